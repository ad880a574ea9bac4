"""SageProvider writes against the stand-in: create, overwrite, reference rules, errors."""
from __future__ import annotations

import json

import pytest
import requests

from core.errors import AccountNumberClash, ContactNotFound, RateLimited, Rejected
from core.models import ContactFields
from providers.base import idempotency_key

FULL = ContactFields(
    name="Acme Rentals Ltd", address_line1="1 High St", address_line2="Unit 4", city="London",
    region="Greater London", postcode="EC1A 1AA", country="United Kingdom", country_code="gb",
    email="accounts@acme.example", phone="020 0000 0000", mobile="07700 900000",
    fax="020 0000 0001", tax_number="GB123456789", account_number="ACME001",
)


def _writes(stand, method: str) -> list[dict]:
    return [c for c in stand.calls() if c["method"] == method]


def test_create_sends_every_mapped_field_and_a_body_derived_idempotency_id(provider, stand, grant):
    # When
    contact = provider.create_contact(FULL, idempotency_key="int-sage:org-7:create")
    # Then: the body sent
    (call,) = _writes(stand, "POST")
    sent = call["json"]["contact"]
    assert sent["name"] == "Acme Rentals Ltd" and sent["contact_type_ids"] == ["CUSTOMER"]
    assert sent["reference"] == "ACME001" and sent["tax_number"] == "GB123456789"
    assert sent["main_address"] == {
        "address_line_1": "1 High St", "address_line_2": "Unit 4", "city": "London",
        "region": "Greater London", "postal_code": "EC1A 1AA", "country_id": "GB"}
    assert sent["main_contact_person"] == {
        "email": "accounts@acme.example", "telephone": "020 0000 0000",
        "mobile": "07700 900000", "fax": "020 0000 0001", "is_main_contact": True}
    assert call["headers"]["X-Business"] == grant["tenant"]
    # ... whose idempotency_id hashes the exact bytes of the body without it
    unkeyed = {"contact": {k: v for k, v in sent.items() if k != "idempotency_id"}}
    raw = json.dumps(unkeyed, separators=(",", ":"), ensure_ascii=False).encode()
    assert sent["idempotency_id"] == idempotency_key("int-sage:org-7:create", raw, length=32)
    assert call["body"].encode() == raw[:-2] + f',"idempotency_id":"{sent["idempotency_id"]}"}}}}'.encode()
    # Then: the contact
    assert len(contact.id) == 32 and contact.name == "Acme Rentals Ltd"
    assert contact.email == "accounts@acme.example" and contact.active
    assert contact.url.startswith("https://accounts-extra.sageone.com/contacts/customers/")
    assert provider.web_link(contact) == contact.url


def test_a_retried_create_is_replayed_not_duplicated(provider, stand, grant):
    # Given
    first = provider.create_contact(FULL, idempotency_key="int-sage:org-7:create")
    # When: the same create again (an answer lost, say)
    second = provider.create_contact(FULL, idempotency_key="int-sage:org-7:create")
    # Then
    assert second.id == first.id
    assert len(stand.contacts(grant["tenant"])) == 1


def test_the_reference_is_never_sent_empty(provider, stand):
    # When
    provider.create_contact(ContactFields(name="No Number Ltd", account_number="  "),
                            idempotency_key="k")
    # Then
    (call,) = _writes(stand, "POST")
    assert "reference" not in call["json"]["contact"]


def test_overwrite_clears_emptied_fields_but_keeps_the_reference(provider, stand, grant):
    # Given
    created = provider.create_contact(FULL, idempotency_key="int-sage:org-7:create")
    emptied = ContactFields(name="Acme Rentals Ltd", city="Leeds")
    # When
    updated = provider.update_contact(created.id, emptied, idempotency_key="int-sage:org-7:update")
    # Then
    (put,) = _writes(stand, "PUT")
    assert put["path"] == f"/v3.1/contacts/{created.id}"
    assert "reference" not in put["json"]["contact"]
    assert "contact_type_ids" not in put["json"]["contact"]
    (stored,) = stand.contacts(grant["tenant"])
    assert stored["reference"] == "ACME001" and stored["tax_number"] is None
    assert stored["main_address"]["city"] == "Leeds"
    assert stored["main_address"]["address_line_1"] is None
    assert stored["main_address"]["country"] is None
    assert stored["main_contact_person"]["email"] is None and stored["email"] is None
    assert updated.id == created.id and updated.email == ""


def test_a_taken_reference_is_an_account_number_clash(provider, stand, grant):
    # Given
    stand.seed(grant["tenant"], {"name": "Someone Else", "reference": "ACME001"})
    # When / Then
    with pytest.raises(AccountNumberClash) as raised:
        provider.create_contact(FULL, idempotency_key="k")
    assert raised.value.status == 422 and "reference" in raised.value.body


def test_other_refusals_carry_sages_message(provider):
    # When / Then
    with pytest.raises(Rejected) as raised:
        provider.create_contact(ContactFields(name="Bad Mail", email="not-an-address"),
                                idempotency_key="k")
    assert not isinstance(raised.value, AccountNumberClash)
    assert raised.value.reason == "Sage refused the contact: Email is invalid"


def test_update_of_a_deleted_contact_is_contact_not_found(provider):
    # When / Then
    with pytest.raises(ContactNotFound):
        provider.update_contact("0" * 32, FULL, idempotency_key="k")


def test_create_contacts_goes_one_by_one_and_a_clash_does_not_stop_the_rest(provider, stand, grant):
    # Given
    stand.seed(grant["tenant"], {"name": "Holder", "reference": "TAKEN"})
    batch = [(ContactFields(name="A"), "k1"),
             (ContactFields(name="B", account_number="TAKEN"), "k2"),
             (ContactFields(name="C"), "k3")]
    # When
    results = provider.create_contacts(batch)
    # Then
    assert [r.contact.name if r.contact else None for r in results] == ["A", None, "C"]
    assert isinstance(results[1].error, AccountNumberClash)
    assert len(_writes(stand, "POST")) == 3


def test_an_expired_access_token_is_refreshed_once_and_the_call_retried(stand, provider_factory):
    # Given: a token the stand-in no longer knows
    grant = stand.grant()
    provider = provider_factory({**grant, "access_token": "expired"}, tenant=grant["tenant"])
    # When
    contact = provider.create_contact(ContactFields(name="After Refresh"), idempotency_key="k")
    # Then
    assert contact.name == "After Refresh"
    assert provider.context.tokens.refreshes == 1


def test_429_becomes_rate_limited(provider, stand):
    # Given
    requests.post(f"{stand.url}/_sandbox/faults", timeout=5, json={
        "path": "/v3.1/contacts$", "method": "POST", "status": 429, "headers": {"Retry-After": "7"},
        "body": [{"$severity": "error", "$dataCode": "TooManyRequests", "$message": "slow",
                  "$source": ""}]})
    # When / Then
    with pytest.raises(RateLimited) as raised:
        provider.create_contact(ContactFields(name="Too Soon"), idempotency_key="k")
    assert raised.value.retry_after == 7.0
