"""The Xero stand-in's contacts: uniqueness, error shapes, echo, queries (providers.md A1-A3)."""
from __future__ import annotations

import time

NAME_TAKEN = ("The contact name {} is already assigned to another contact. "
              "The contact name must be unique across all active contacts.")


def test_duplicate_name_gets_the_exact_summarised_400_and_the_valid_element_is_still_saved(xero):
    # Given
    assert xero.put({"Name": "Buzz Lightyear"}).status_code == 200
    # When
    response = xero.put({"Name": "Woody"}, {"Name": "buzz lightyear ", "EmailAddress": "b@x.com"})
    # Then
    body = response.json()
    assert response.status_code == 400
    assert {k: body[k] for k in ("ErrorNumber", "Type", "Message")} == {
        "ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred"}
    [element] = body["Elements"]
    assert element["ContactID"] == "00000000-0000-0000-0000-000000000000"
    assert element["EmailAddress"] == "b@x.com" and element["HasValidationErrors"] is True
    assert element["ValidationErrors"] == [{"Message": NAME_TAKEN.format("buzz lightyear")}]
    assert sorted(c["Name"] for c in xero.stored()) == ["Buzz Lightyear", "Woody"]


def test_summarize_errors_false_answers_200_with_a_status_per_element(xero):
    # Given
    xero.put({"Name": "Acme"})
    # When
    response = xero.put({"Name": "ACME"}, {"Name": "Zeta"}, summarizeErrors="false")
    # Then
    assert response.status_code == 200
    refused, created = response.json()["Contacts"]
    assert refused["StatusAttributeString"] == "ERROR"
    assert refused["ValidationErrors"] == [{"Message": NAME_TAKEN.format("ACME")}]
    assert created["StatusAttributeString"] == "OK" and created["HasValidationErrors"] is False
    assert created["ContactID"] in {c["ContactID"] for c in xero.stored()}


def test_a_name_is_unique_among_active_contacts_only(xero):
    # Given an archived "Acme"
    first = xero.put({"Name": "Acme"}).json()["Contacts"][0]
    archived = xero("POST", f"/Contacts/{first['ContactID']}", json={"Contacts": [{"ContactStatus": "ARCHIVED"}]})
    # When
    second = xero.put({"Name": "Acme"})
    # Then
    assert archived.json()["Contacts"][0]["ContactStatus"] == "ARCHIVED"
    assert second.status_code == 200
    # and reactivating the archived one now clashes
    revived = xero("POST", f"/Contacts/{first['ContactID']}", json={"Contacts": [{"ContactStatus": "ACTIVE"}]})
    assert revived.status_code == 400


def test_account_number_is_unique_too(xero):
    # Given
    xero.put({"Name": "One", "AccountNumber": "ACC-1"})
    # When
    response = xero.put({"Name": "Two", "AccountNumber": "acc-1"}, summarizeErrors="false")
    # Then
    [element] = response.json()["Contacts"]
    assert element["StatusAttributeString"] == "ERROR"
    assert element["ValidationErrors"] == [
        {"Message": "The Account Number already exists. Please enter a different Account Number."}]


def test_read_only_echo_fields_are_accepted_and_ignored(xero):
    # Given the body xero-python sends by default (issue 17, gap 1)
    body = {"Name": "Echo", "HasValidationErrors": False, "HasAttachments": False}
    # When
    response = xero.put({"Name": "Fine"}, body)
    # Then both are saved; the echo fields are not stored as given
    assert response.status_code == 200
    assert sorted(c["Name"] for c in xero.stored()) == ["Echo", "Fine"]


def test_an_unknown_element_is_still_refused_and_nothing_is_saved(xero):
    # When
    response = xero.put({"Name": "Fine"}, {"Name": "Echo", "Colour": "red"})
    # Then
    assert response.status_code == 400
    assert response.json()["Type"] == "PostDataInvalidException"
    assert "Colour" in response.json()["Message"]
    assert xero.stored() == []


def test_answers_echo_four_phone_slots_and_both_address_types(xero):
    # When
    response = xero.put({"Name": "Echoed", "Phones": [{"PhoneType": "MOBILE", "PhoneNumber": "555"}]})
    # Then
    contact = response.json()["Contacts"][0]
    assert [p["PhoneType"] for p in contact["Phones"]] == ["DEFAULT", "DDI", "FAX", "MOBILE"]
    assert contact["Phones"][3]["PhoneNumber"] == "555" and contact["Phones"][0]["PhoneNumber"] == ""
    assert [a["AddressType"] for a in contact["Addresses"]] == ["STREET", "POBOX"]
    assert contact["ContactID"] == contact["ContactID"].lower() and len(contact["ContactID"]) == 36


def test_update_changes_only_what_is_sent_and_unknown_ids_are_404(xero):
    # Given
    created = xero.put({"Name": "Acme", "EmailAddress": "a@acme.test", "TaxNumber": "GST-1"}).json()["Contacts"][0]
    # When
    updated = xero("POST", f"/Contacts/{created['ContactID'].upper()}",
                   json={"Contacts": [{"EmailAddress": "", "Addresses": [{"AddressType": "STREET", "City": "Oslo"}]}]})
    missing = xero("GET", "/Contacts/5cc8cf28-567e-4d43-b287-687cfcaec47c")
    # Then
    contact = updated.json()["Contacts"][0]
    assert contact["EmailAddress"] == "" and contact["TaxNumber"] == "GST-1"
    assert contact["Addresses"][0]["City"] == "Oslo"
    assert missing.status_code == 404


def test_where_on_name_ignores_case_and_reads_escaped_quotes(xero):
    # Given
    xero.put({"Name": 'The "Big" Co'}, {"Name": "Acme Ltd"})
    # When
    by_name = xero("GET", "/Contacts", params={"where": 'ContactStatus=="ACTIVE"&&Name=="acme ltd"'})
    quoted = xero("GET", "/Contacts", params={"where": r'Name.ToLower()=="the \"big\" co"'})
    broken = xero("GET", "/Contacts", params={"where": "Nonsense=="})
    # Then
    assert [c["Name"] for c in by_name.json()["Contacts"]] == ["Acme Ltd"]
    assert [c["Name"] for c in quoted.json()["Contacts"]] == ['The "Big" Co']
    assert broken.status_code == 400 and broken.json()["Type"] == "QueryParseException"


def test_search_term_ids_and_archived(xero):
    # Given
    made = xero.put({"Name": "Alpha", "EmailAddress": "hello@beta.test"}, {"Name": "Gamma"},
                    {"Name": "Delta"}).json()["Contacts"]
    xero.control("POST", "archive", json={"tenant": xero.tenant, "contact_id": made[2]["ContactID"]})
    ids = ",".join(c["ContactID"] for c in made)
    # When
    searched = xero("GET", "/Contacts", params={"searchTerm": "BETA"}).json()["Contacts"]
    by_ids = xero("GET", "/Contacts", params={"IDs": ids}).json()["Contacts"]
    with_archived = xero("GET", "/Contacts", params={"IDs": ids, "includeArchived": "true"}).json()["Contacts"]
    # Then
    assert [c["Name"] for c in searched] == ["Alpha"]
    assert sorted(c["Name"] for c in by_ids) == ["Alpha", "Gamma"]
    assert sorted(c["Name"] for c in with_archived) == ["Alpha", "Delta", "Gamma"]


def test_pages_hold_100_contacts_with_pagination(xero):
    # Given
    xero.put(*[{"Name": f"Contact {n:03}"} for n in range(150)])
    # When
    first = xero("GET", "/Contacts", params={"page": 1}).json()
    second = xero("GET", "/Contacts", params={"page": 2}).json()
    # Then
    assert len(first["Contacts"]) == 100 and len(second["Contacts"]) == 50
    assert second["pagination"] == {"page": 2, "pageSize": 100, "pageCount": 2, "itemCount": 150}
    assert second["Contacts"][0]["Name"] == "Contact 100"


def test_merge_archives_the_source_and_points_it_at_the_target(xero):
    # Given
    source, target = xero.put({"Name": "Old"}, {"Name": "New"}).json()["Contacts"]
    # When
    xero.control("POST", "merge", json={"tenant": xero.tenant, "from": source["ContactID"],
                                         "into": target["ContactID"]})
    # Then
    merged = xero("GET", f"/Contacts/{source['ContactID']}").json()["Contacts"][0]
    assert merged["ContactStatus"] == "ARCHIVED"
    assert merged["MergedToContactID"] == target["ContactID"]
    unpaged = xero("GET", "/Contacts", params={"includeArchived": "true"}).json()["Contacts"]
    assert all("MergedToContactID" not in c for c in unpaged)  # spec: only paged or by id


def test_idempotency_key_replays_the_first_answer_within_its_window(serve, api_for):
    # Given a stand-in that remembers keys for 0.3 s
    xero = api_for(serve(idempotency_window=0.3))
    headers = {"Idempotency-Key": "key-1"}
    # When the same write is sent twice with the same key
    first = xero("PUT", "/Contacts", json={"Contacts": [{"Name": "Once"}]}, headers=headers)
    again = xero("PUT", "/Contacts", json={"Contacts": [{"Name": "Once"}]}, headers=headers)
    # Then the second answer is the first one, and one contact exists
    assert again.status_code == 200 and again.json() == first.json()
    assert len(xero.stored()) == 1
    assert xero.control("GET", "stats").json()["idempotent_replays"] == 1
    # and once the window has passed the key is forgotten: the write runs (and clashes)
    time.sleep(0.35)
    late = xero("PUT", "/Contacts", json={"Contacts": [{"Name": "Once"}]}, headers=headers)
    assert late.status_code == 400


def test_organisation_has_a_short_code(xero):
    # When
    organisation = xero("GET", "/Organisation").json()["Organisations"][0]
    # Then
    assert organisation["OrganisationID"] == xero.tenant
    assert organisation["ShortCode"].startswith("!") and len(organisation["ShortCode"]) == 6


def test_calls_need_the_tenant_the_token_was_granted(xero, api_for, xero_server):
    # Given another tenant's token
    other = api_for(xero_server)
    # When
    without = xero("GET", "/Contacts", headers={"xero-tenant-id": ""})
    crossed = other("GET", "/Contacts", headers={"xero-tenant-id": xero.tenant})
    # Then
    assert without.status_code == 403 and crossed.status_code == 403
    assert crossed.json()["Detail"] == "AuthorizationUnsuccessful"


def test_post_contacts_updates_by_contact_id_and_creates_without_one(xero):
    # Given
    existing = xero.put({"Name": "Upsert Me"}).json()["Contacts"][0]
    # When
    answer = xero("POST", "/Contacts", params={"summarizeErrors": "false"}, json={"Contacts": [
        {"ContactID": existing["ContactID"], "EmailAddress": "u@x.test"},
        {"Name": "Brand New"},
        {"ContactID": "5cc8cf28-567e-4d43-b287-687cfcaec47c", "Name": "Nobody"},
    ]}).json()["Contacts"]
    # Then
    assert [a["StatusAttributeString"] for a in answer] == ["OK", "OK", "ERROR"]
    assert answer[0]["ContactID"] == existing["ContactID"] and answer[0]["EmailAddress"] == "u@x.test"
    assert sorted(c["Name"] for c in xero.stored()) == ["Brand New", "Upsert Me"]
    assert xero.control("GET", "stats").json()["contacts"] >= 2


def test_summary_only_leaves_out_the_heavy_parts(xero):
    # Given
    xero.put({"Name": "Light", "EmailAddress": "l@x.test"})
    # When
    [summary] = xero("GET", "/Contacts", params={"summaryOnly": "true"}).json()["Contacts"]
    # Then
    assert summary["Name"] == "Light" and summary["EmailAddress"] == "l@x.test"
    assert "Addresses" not in summary and "Phones" not in summary


def test_a_renamed_contact_frees_its_old_name_and_takes_the_new_one(xero):
    # Given "Acme" renamed to "Acme Ltd" (the stand-in files names in an index, issue 18)
    first = xero.put({"Name": "Acme"}).json()["Contacts"][0]
    assert xero("POST", f"/Contacts/{first['ContactID']}", json={"Contacts": [{"Name": "Acme Ltd"}]}).status_code == 200
    # Then "Acme" is free again, and " acme ltd " is taken, whatever its case and spaces
    assert xero.put({"Name": "Acme"}).status_code == 200
    assert xero.put({"Name": " acme ltd "}).status_code == 400
