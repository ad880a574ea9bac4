"""QuickBooksProvider writes against the stand-in: create, overwrite, stale SyncToken, clashes."""
from __future__ import annotations

import json

import pytest

from core.errors import NameClash, Rejected, Transient
from core.models import ContactFields
from tests.providers.quickbooks.quickbooks_provider_support import Realm

FULL = ContactFields(
    name="Acme Hire", address_line1="1 High St", address_line2="Unit 2", city="Leeds",
    region="West Yorkshire", postcode="LS1 1AA", country="United Kingdom", country_code="GB",
    email="accounts@acme.test", phone="0113 000 0000", mobile="07700 900000", fax="0113 000 0001",
    tax_number="GB123456789", account_number="ACME01",
)


def test_create_maps_every_field_and_carries_minorversion_and_requestid(realm: Realm) -> None:
    # When
    contact = realm.provider.create_contact(FULL, idempotency_key="int-1:org-7:create")
    # Then the customer holds the mapped fields
    stored = realm.app.extensions["sandbox"].store.raw(realm.tenant, contact.id)
    assert stored["DisplayName"] == stored["CompanyName"] == "Acme Hire"
    assert stored["BillAddr"] | {"Id": "x"} == {
        "Id": "x", "Line1": "1 High St", "Line2": "Unit 2", "City": "Leeds",
        "CountrySubDivisionCode": "West Yorkshire", "PostalCode": "LS1 1AA", "Country": "United Kingdom",
    }
    assert stored["PrimaryEmailAddr"] == {"Address": "accounts@acme.test"}
    assert stored["PrimaryPhone"]["FreeFormNumber"] == "0113 000 0000"
    assert stored["Mobile"]["FreeFormNumber"] == "07700 900000"
    assert stored["Fax"]["FreeFormNumber"] == "0113 000 0001"
    assert stored["PrimaryTaxIdentifier"] == "GB123456789"
    # and the request was a bare Customer without an account number, with its query parameters
    call = realm.calls()[-1]
    sent = json.loads(call["body"])
    assert "ACME01" not in call["body"] and "Customer" not in sent
    assert call["query"]["minorversion"] == "75"
    assert len(call["query"]["requestid"]) == 50
    assert contact.version == "0" and contact.entity_type == "Customer"
    assert contact.url == f"https://app.qbo.intuit.com/app/customerdetail?nameId={contact.id}"


def test_create_leaves_empty_fields_out(realm: Realm) -> None:
    realm.provider.create_contact(ContactFields(name="Bare Co"), idempotency_key="k")
    assert json.loads(realm.calls()[-1]["body"]) == {"DisplayName": "Bare Co", "CompanyName": "Bare Co"}


def test_overwrite_is_sparse_and_clears_emptied_fields(realm: Realm) -> None:
    # Given a customer with every field, and a note the sync does not map
    contact = realm.provider.create_contact(FULL, idempotency_key="create")
    realm.control("PATCH", f"contacts/{contact.id}", Notes="keep me")
    # When the organisation lost its e-mail, fax and second address line
    changed = ContactFields(**{**FULL.__dict__, "email": "", "fax": "", "address_line2": "", "city": "York"})
    updated = realm.provider.update_contact(contact.id, changed, idempotency_key="update")
    # Then
    sent = json.loads(realm.calls()[-1]["body"])
    assert sent["sparse"] is True and sent["Id"] == contact.id
    assert sent["PrimaryEmailAddr"] == {"Address": ""}
    stored = realm.customers()[contact.id]
    assert "PrimaryEmailAddr" not in stored and "Fax" not in stored
    assert "Line2" not in stored["BillAddr"] and stored["BillAddr"]["City"] == "York"
    assert stored["Notes"] == "keep me"  # unmapped fields survive a sparse update
    assert updated.version == stored["SyncToken"]


def test_a_stale_sync_token_is_read_again_and_retried(realm: Realm) -> None:
    # Given the provider read the customer (SyncToken 0) and someone else then edited it
    seeded = realm.seed(DisplayName="Acme Hire")
    assert realm.provider.get_contact(seeded["Id"]).version == "0"
    realm.control("PATCH", f"contacts/{seeded['Id']}", Notes="edited in QuickBooks")
    # When
    updated = realm.provider.update_contact(seeded["Id"], FULL, idempotency_key="update")
    # Then: POST (5010), GET, POST again with a new token and so a new requestid
    calls = [(c["method"], c["path"].rsplit("/", 2)[-2:]) for c in realm.calls()[-3:]]
    assert [c[0] for c in calls] == ["POST", "GET", "POST"]
    posts = [c for c in realm.calls() if c["method"] == "POST"][-2:]
    assert [json.loads(p["body"])["SyncToken"] for p in posts] == ["0", "1"]
    assert posts[0]["query"]["requestid"] != posts[1]["query"]["requestid"]
    assert updated.version == "2"
    assert realm.customers()[seeded["Id"]]["PrimaryEmailAddr"]["Address"] == "accounts@acme.test"


def test_update_without_a_prior_read_reads_the_sync_token_first(realm: Realm) -> None:
    seeded = realm.seed(DisplayName="Acme Hire")
    realm.control("PATCH", f"contacts/{seeded['Id']}", Notes="v1")
    updated = realm.provider.update_contact(seeded["Id"], FULL, idempotency_key="u")
    assert updated.version == "2"
    assert [c["method"] for c in realm.calls()[-2:]] == ["GET", "POST"]


def test_clash_with_a_customer_names_its_id(realm: Realm) -> None:
    # Given
    existing = realm.seed(DisplayName="Acme Hire")
    # When
    with pytest.raises(NameClash) as caught:
        realm.provider.create_contact(FULL, idempotency_key="create")
    # Then
    assert caught.value.existing_id == existing["Id"]
    assert caught.value.existing_type == "Customer"
    assert caught.value.context["existing_active"] is True
    assert existing["Id"] in caught.value.reason


@pytest.mark.parametrize("entity", ["Vendor", "Employee"])
def test_clash_with_a_vendor_or_employee_says_so(realm: Realm, entity: str) -> None:
    # Given a vendor or employee of that name (and a customer whose Id is lower)
    realm.seed(DisplayName="Someone Else")
    other = realm.seed(entity, DisplayName="acme hire")
    # When
    with pytest.raises(NameClash) as caught:
        realm.provider.create_contact(FULL, idempotency_key="create")
    # Then
    assert (caught.value.existing_id, caught.value.existing_type) == (other["Id"], entity)
    assert entity.lower() in caught.value.reason


def test_clash_with_an_inactive_customer(realm: Realm) -> None:
    existing = realm.seed(DisplayName="Acme Hire", Active=False)
    with pytest.raises(NameClash) as caught:
        realm.provider.create_contact(FULL, idempotency_key="create")
    assert caught.value.existing_type == "Customer"
    assert caught.value.context["existing_active"] is False
    assert "inactive" in caught.value.reason and existing["Id"] in caught.value.reason


@pytest.mark.parametrize("name", ["Acme: Hire", "Acme\tHire", "Acme\nHire"])
def test_a_forbidden_character_is_refused_before_any_call(realm: Realm, name: str) -> None:
    with pytest.raises(Rejected) as caught:
        realm.provider.create_contact(ContactFields(name=name), idempotency_key="create")
    assert "colon" in caught.value.reason
    assert realm.calls() == []


def test_a_lost_answer_is_replayed_by_requestid_not_written_twice(realm: Realm) -> None:
    # Given the create is applied but its answer is lost
    realm.fault(path=f"/company/{realm.tenant}/customer$", method="POST", mode="lost")
    with pytest.raises(Transient):
        realm.provider.create_contact(FULL, idempotency_key="int-1:org-7:create")
    # When the same create is retried
    contact = realm.provider.create_contact(FULL, idempotency_key="int-1:org-7:create")
    # Then QuickBooks replays the first answer: one customer, the same requestid
    assert list(realm.customers()) == [contact.id]
    posts = [c for c in realm.calls() if c["method"] == "POST"]
    assert len({p["query"]["requestid"] for p in posts}) == 1 and len(posts) == 2
