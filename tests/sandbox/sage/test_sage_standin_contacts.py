"""The Sage stand-in's contact rules: ids, uniqueness, idempotency, listing, errors."""
from __future__ import annotations

import re

import requests

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def _customer(name: str, **extra) -> dict:
    return {"contact": {"name": name, "contact_type_ids": ["CUSTOMER"], **extra}}


def test_create_answers_201_with_the_contact_shape(api, grant):
    # Given / When
    response = api.post("/contacts", json=_customer(
        "Bobs Building Supplies", reference="BBS001", tax_number="GB938484382",
        main_contact_person={"email": "bob@example.com", "telephone": "020 0000 0000"},
    ))
    # Then
    assert response.status_code == 201
    body = response.json()
    assert HEX32.match(body["id"])
    assert body["displayed_as"] == "Bobs Building Supplies (BBS001)"
    assert body["$path"] == f"/contacts/{body['id']}"
    assert body["email"] == "bob@example.com"  # read-only, from the main contact person
    assert body["contact_types"][0]["id"] == "CUSTOMER"
    (link,) = body["links"]
    assert link["rel"] == "alternate" and link["type"] == "text/html"
    assert re.match(r"^https://accounts-extra\.sageone\.com/contacts/customers/\d+$", link["href"])
    assert response.headers["X-Business"] == grant["tenant"]


def test_a_taken_reference_is_refused_with_record_invalid_on_reference(api):
    # Given
    assert api.post("/contacts", json=_customer("Acme", reference="ACME01")).status_code == 201
    # When: the same reference, differently cased, on another contact
    response = api.post("/contacts", json=_customer("Other", reference="acme01"))
    # Then
    assert response.status_code == 422
    assert response.json() == [{
        "$severity": "error", "$dataCode": "RecordInvalid",
        "$message": "Reference has already been taken", "$source": "reference",
    }]


def test_duplicate_names_are_allowed(api):
    # Given / When
    first = api.post("/contacts", json=_customer("Acme Ltd"))
    second = api.post("/contacts", json=_customer("Acme Ltd"))
    # Then
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]


def test_an_idempotency_id_replays_the_first_answer_and_creates_once(api, sage):
    # Given
    key = "6f1c" + "0" * 28
    first = api.post("/contacts", json=_customer("Once Ltd", idempotency_id=key))
    # When
    again = api.post("/contacts", json=_customer("Once Ltd", idempotency_id=key))
    fresh = api.post("/contacts", json=_customer("Once Ltd", idempotency_id="1" * 32))
    # Then
    assert again.status_code == 201 and again.json() == first.json()
    assert fresh.json()["id"] != first.json()["id"]
    assert requests.get(f"{sage.url}/_sandbox/stats", timeout=5).json()["contacts"] == 2


def test_required_fields_and_content_type(api):
    # When
    no_name = api.post("/contacts", json={"contact": {"contact_type_ids": ["CUSTOMER"]}})
    no_type = api.post("/contacts", json={"contact": {"name": "X"}})
    form = api.post("/contacts", data="contact[name]=X")
    # Then
    assert no_name.status_code == 422 and no_name.json()[0]["$source"] == "name"
    assert no_type.status_code == 422 and no_type.json()[0]["$source"] == "contact_type_ids"
    assert form.status_code == 415


def test_put_changes_only_what_it_carries_and_empty_strings_clear(api):
    # Given
    created = api.post("/contacts", json=_customer(
        "Acme", reference="A1", tax_number="GB1", main_address={"city": "Leeds"},
    )).json()
    # When
    response = api.put(f"/contacts/{created['id']}", json={"contact": {
        "tax_number": "", "main_address": {"postal_code": "LS1 1AA"},
    }})
    # Then
    body = api.get(f"/contacts/{created['id']}", params={"nested_attributes": "all"}).json()
    assert response.status_code == 200
    assert body["tax_number"] is None and body["reference"] == "A1"
    assert body["main_address"]["city"] == "Leeds"
    assert body["main_address"]["postal_code"] == "LS1 1AA"


def test_delete_then_not_found_in_sages_shape(api):
    # Given
    created = api.post("/contacts", json=_customer("Gone Ltd")).json()
    # When
    deleted = api.delete(f"/contacts/{created['id']}")
    missing = api.get(f"/contacts/{created['id']}")
    # Then
    assert deleted.status_code == 204
    assert missing.status_code == 404
    assert missing.json() == [{"$severity": "error", "$dataCode": "RecordNotFound",
                               "$message": "Couldn't find record.", "$source": ""}]


def test_listing_envelope_paging_and_attributes(api):
    # Given
    for number in range(25):
        api.post("/contacts", json=_customer(f"Customer {number:02d}"))
    # When
    first = api.get("/contacts").json()
    second = api.get("/contacts", params={"page": 2, "attributes": "all"}).json()
    big = api.get("/contacts", params={"items_per_page": 500}).json()
    # Then
    assert (first["$total"], first["$page"], first["$items_per_page"]) == (25, 1, 20)
    assert first["$next"] == "/contacts?page=2" and first["$back"] is None
    assert set(first["$items"][0]) == {"id", "displayed_as", "$path"}
    assert len(second["$items"]) == 5 and second["$next"] is None
    assert second["$items"][0]["name"] == "Customer 20"
    assert big["$items_per_page"] == 200 and len(big["$items"]) == 25


def test_search_email_type_and_inactive_filters(api, sage, grant):
    # Given
    api.post("/contacts", json=_customer("Acme Ltd", reference="ZZ9",
                                         main_contact_person={"email": "ops@acme.example"}))
    api.post("/contacts", json={"contact": {"name": "Acme Supplies",
                                            "contact_type_ids": ["VENDOR"]}})
    requests.post(f"{sage.url}/_sandbox/contacts", timeout=5, json={
        "tenant": grant["tenant"], "contact": {"name": "Acme Old"}, "is_active": False})

    def names(**params) -> set[str]:
        items = api.get("/contacts", params={"attributes": "all", **params}).json()["$items"]
        return {item["name"] for item in items}

    # When / Then
    assert names(search="acme") == {"Acme Ltd", "Acme Supplies", "Acme Old"}
    assert names(search="zz9") == {"Acme Ltd"}
    assert names(email="OPS@acme.example") == {"Acme Ltd"}
    assert names(search="acme", contact_type_id="CUSTOMER") == {"Acme Ltd", "Acme Old"}
    assert names(search="acme", filter_inactive_contacts="true") == {"Acme Ltd", "Acme Supplies"}


def test_sandbox_routes_seed_deactivate_and_name_the_tenant(sage):
    # Given: tokens for a named business
    tenant = "0d40342d0287cd6b13555c54afca6c90"
    grant = requests.post(f"{sage.url}/_sandbox/tokens", json={"tenant": tenant}, timeout=5).json()
    seeded = requests.post(f"{sage.url}/_sandbox/contacts", timeout=5,
                           json={"tenant": tenant, "contact": {"name": "Seeded"}}).json()
    # When
    patched = requests.patch(f"{sage.url}/_sandbox/contacts/{seeded['id']}", timeout=5,
                             json={"is_active": False})
    read = requests.get(f"{sage.url}/v3.1/contacts/{seeded['id']}", timeout=5,
                        headers={"Authorization": f"Bearer {grant['access_token']}"})
    # Then
    assert grant["tenant"] == tenant and read.headers["X-Business"] == tenant
    assert patched.json()["is_active"] is False and read.json()["is_active"] is False
    assert [c["id"] for c in requests.get(f"{sage.url}/_sandbox/contacts",
                                          params={"tenant": tenant}, timeout=5).json()["contacts"]] \
        == [seeded["id"]]
    calls = requests.get(f"{sage.url}/_sandbox/calls", timeout=5).json()["calls"]
    assert [c["path"] for c in calls] == [f"/v3.1/contacts/{seeded['id']}"]
