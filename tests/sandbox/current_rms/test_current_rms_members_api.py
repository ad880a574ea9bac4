"""The stand-in's member endpoints: read shape, list filters and paging, writes."""
from __future__ import annotations

import time


def _org(name: str, **more):
    return {"name": name, "membership_type": "Organisation", **more}


def test_get_member_answers_the_samples_full_shape(rms, seed, sample_member):
    # Given the reference sample seeded as it is
    seed(sample_member)
    # When it is read through the API
    response = rms("GET", f"/members/{sample_member['id']}")
    # Then the answer is {"member": ...} equal to the sample, key for key
    assert response.status_code == 200
    assert response.json() == {"member": sample_member}


def test_a_new_member_has_every_key_of_the_sample(rms, sample_member):
    response = rms("POST", "/members", json={"member": _org("Fresh Ltd")})
    member = response.json()["member"]
    assert response.status_code == 201
    assert set(member) == set(sample_member)
    assert set(member["membership"]) == set(sample_member["membership"])
    assert member["primary_address"] is None and member["emails"] == []


def test_absent_and_deleted_members_are_404(rms, seed):
    member = seed(_org("Short Lived Ltd"))
    assert rms("GET", "/members/999999").status_code == 404
    assert rms("DELETE", f"/members/{member['id']}").status_code == 204
    assert rms("GET", f"/members/{member['id']}").status_code == 404
    assert rms("DELETE", f"/members/{member['id']}").status_code == 404


def test_list_pages_with_meta_and_caps_per_page(rms):
    # Given 7 organisations
    rms.control("POST", "members/bulk", json={"subdomain": "acme", "count": 7, "prefix": "Org"})
    # When they are listed 3 per page
    pages = [rms("GET", "/members", params={"per_page": 3, "page": p}).json() for p in (1, 2, 3, 4)]
    # Then the pages hold 3, 3, 1, 0 in id order, and meta says so
    assert [p["meta"]["row_count"] for p in pages] == [3, 3, 1, 0]
    assert {p["meta"]["total_row_count"] for p in pages} == {7}
    assert [p["meta"]["page"] for p in pages] == [1, 2, 3, 4]
    names = [m["name"] for p in pages for m in p["members"]]
    assert names == [f"Org {n:05d}" for n in range(1, 8)]
    # and per_page is capped at 100, defaulting to 20
    assert rms("GET", "/members", params={"per_page": 500}).json()["meta"]["per_page"] == 100
    assert rms("GET", "/members").json()["meta"]["per_page"] == 20


def test_filtermode_keeps_one_membership_type(rms, seed):
    seed(_org("Org Ltd"))
    seed({"name": "Rosa Testa", "membership_type": "Contact"})
    seed({"name": "Town Hall", "membership_type": "Venue"})

    def names(mode: str) -> list[str]:
        members = rms("GET", "/members", params={"filtermode": mode}).json()["members"]
        return [m["name"] for m in members]

    assert names("organisation") == ["Org Ltd"]
    assert names("contact") == ["Rosa Testa"]
    assert names("venue") == ["Town Hall"]
    assert names("all") == ["Org Ltd", "Rosa Testa", "Town Hall"]
    assert rms("GET", "/members", params={"filtermode": "bogus"}).status_code == 422


def test_updated_at_gt_returns_only_later_changes(rms, seed):
    # Given two members, then an edit of the first after a watermark
    first = seed(_org("First Ltd"))
    seed(_org("Second Ltd"))
    watermark = rms("GET", "/members").json()["members"][-1]["updated_at"]
    rms("PUT", f"/members/{first['id']}", json={"member": {"description": "edited"}})
    # When asked for members updated after the watermark
    later = rms("GET", "/members", params={"q[updated_at_gt]": watermark}).json()
    # Then only the edited one comes back
    assert [m["name"] for m in later["members"]] == ["First Ltd"]
    assert later["meta"]["total_row_count"] == 1
    # and an offset time is understood; garbage is refused
    assert rms("GET", "/members", params={"q[updated_at_gt]": "2000-01-01T00:00:00+01:00"}
               ).json()["meta"]["total_row_count"] == 2
    assert rms("GET", "/members", params={"q[updated_at_gt]": "yesterday"}).status_code == 422


def test_active_id_and_name_filters(rms, seed):
    a = seed(_org("Alpha Ltd"))
    b = seed(_org("Beta Ltd", active=False))
    c = seed(_org("Gamma Ltd"))

    def ids(**params) -> list[int]:
        return [m["id"] for m in rms("GET", "/members", params=params).json()["members"]]

    assert ids(**{"q[active_eq]": "true"}) == [a["id"], c["id"]]
    assert ids(**{"q[active_eq]": "false"}) == [b["id"]]
    assert ids(**{"q[id_in][]": [a["id"], b["id"]]}) == [a["id"], b["id"]]
    assert ids(**{"q[name_eq]": "Gamma Ltd"}) == [c["id"]]


def test_a_filtered_list_follows_every_change_between_pages(rms, seed):
    # The stand-in keeps the last filter's ids between pages: a change must never serve it stale
    first, second = seed(_org("One Ltd")), seed(_org("Two Ltd"))

    def active_ids() -> list[int]:
        return [m["id"] for m in rms("GET", "/members", params={"q[active_eq]": "true"}).json()["members"]]

    assert active_ids() == [first["id"], second["id"]]
    rms("PUT", f"/members/{first['id']}", json={"member": {"active": False}})
    assert active_ids() == [second["id"]]
    third = rms("POST", "/members", json={"member": _org("Three Ltd")}).json()["member"]
    assert active_ids() == [second["id"], third["id"]]
    rms("DELETE", f"/members/{second['id']}")
    assert active_ids() == [third["id"]]


def test_create_requires_name_and_membership_type(rms):
    missing_type = rms("POST", "/members", json={"member": {"name": "No Type"}})
    blank_name = rms("POST", "/members", json={"member": {"name": " ", "membership_type": "Organisation"}})
    no_wrapper = rms("POST", "/members", json={"name": "Unwrapped"})
    assert missing_type.status_code == 422
    assert missing_type.json() == {"errors": ["Membership type can't be blank"]}
    assert blank_name.json() == {"errors": ["Name can't be blank"]}
    assert no_wrapper.status_code == 400
    assert rms("GET", "/members").json()["meta"]["total_row_count"] == 0


def test_update_with_nested_attributes_keeps_the_read_shape(rms, seed, sample_member):
    # Given the sample organisation
    seed(sample_member)
    member_id = sample_member["id"]
    before = rms("GET", f"/members/{member_id}").json()["member"]
    # When a partial update changes the address, the work email, drops the fax, adds a phone,
    # sets a membership number and one custom field
    time.sleep(0.002)
    response = rms("PUT", f"/members/{member_id}", json={"member": {
        "primary_address_attributes": {"id": 205200, "street": "1 New Road", "city": "Wellington",
                                       "country_name": "united kingdom"},
        "emails_attributes": [{"id": 148900, "address": "new@example.com", "type_id": 4001}],
        "phones_attributes": [{"id": 187102, "_destroy": True},
                              {"number": "555", "type_id": 6005}],
        "membership_attributes": {"id": 205000, "number": "N-9"},
        "custom_fields": {"linked_contact": "Xero Co"},
    }})
    after = response.json()["member"]
    # Then the changes are in the read shape, the rest is untouched, updated_at moved on
    assert response.status_code == 200
    assert after["primary_address"]["street"] == "1 New Road"
    assert after["primary_address"]["postcode"] == "1010"
    assert after["primary_address"]["country"]["code"] == "GB"
    assert after["primary_address"]["country_name"] == "United Kingdom"
    assert after["emails"] == [{"id": 148900, "address": "new@example.com", "type_id": 4001,
                                "email_type_name": "Work"}]
    assert [p["phone_type_name"] for p in after["phones"]] == ["Work", "Mobile", "Home"]
    assert after["membership"]["number"] == "N-9"
    assert after["membership"]["tax_number"] == "GB123456789"
    assert after["custom_fields"] == {"linked_contact": "Xero Co"}
    assert after["name"] == before["name"]
    assert after["updated_at"] > before["updated_at"]
    assert rms("GET", f"/members/{member_id}").json()["member"] == after


def test_custom_fields_merge_and_bad_updates_change_nothing(rms, seed):
    member = seed(_org("Merge Ltd", custom_fields={"a": "1", "b": "2"}))
    merged = rms("PUT", f"/members/{member['id']}",
                 json={"member": {"custom_fields": {"b": "3", "c": "4"}}}).json()["member"]
    assert merged["custom_fields"] == {"a": "1", "b": "3", "c": "4"}
    # An update naming a record that does not exist is refused as a whole
    refused = rms("PUT", f"/members/{member['id']}", json={"member": {
        "name": "Renamed", "emails_attributes": [{"id": 1, "address": "x@example.com"}]}})
    assert refused.status_code == 422
    assert rms("GET", f"/members/{member['id']}").json()["member"]["name"] == "Merge Ltd"
    assert rms("PUT", "/members/424242", json={"member": {"name": "x"}}).status_code == 404


def test_every_change_bumps_updated_at(rms, seed):
    member = seed(_org("Busy Ltd"))
    stamps = [member["updated_at"]]
    for n in range(5):
        stamps.append(rms("PUT", f"/members/{member['id']}",
                          json={"member": {"description": str(n)}}).json()["member"]["updated_at"])
    assert stamps == sorted(set(stamps))  # strictly increasing, even within a millisecond
