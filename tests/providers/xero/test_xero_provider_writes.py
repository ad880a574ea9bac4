"""XeroProvider writes against the stand-in: create, update, clashes, batch (interface §5)."""
from __future__ import annotations

import dataclasses

import pytest

from core.errors import AccountNumberClash, ContactNotFound, NameClash, Rejected, Transient
from core.models import ContactFields
from providers.base import idempotency_key
from providers.xero import mapping

ACME = ContactFields(
    name="Acme Ltd", address_line1="1 High St", address_line2="Floor 2", city="Wellington",
    region="Wellington", postcode="6011", country="New Zealand", country_code="NZ",
    email="accounts@acme.test", phone="04 555 0100", mobile="021 555 0101", fax="04 555 0102",
    tax_number="123-456-789", account_number="ACME-1",
)


def _by_type(items, key):
    return {item[key]: item for item in items}


def test_create_sends_every_mapped_field_and_returns_the_contact_with_its_link(sandbox):
    # Given
    provider = sandbox.provider()
    # When
    contact = provider.create_contact(ACME, idempotency_key="int-xero:7:create")
    # Then the stored contact holds every field, the street address twice
    [stored] = sandbox.stored()
    addresses, phones = _by_type(stored["Addresses"], "AddressType"), _by_type(stored["Phones"], "PhoneType")
    assert addresses["STREET"] == addresses["POBOX"] | {"AddressType": "STREET"}
    assert addresses["STREET"]["AddressLine2"] == "Floor 2" and addresses["STREET"]["Country"] == "New Zealand"
    assert phones["DEFAULT"]["PhoneNumber"] == "04 555 0100" and phones["FAX"]["PhoneNumber"] == "04 555 0102"
    assert stored["AccountNumber"] == "ACME-1" and stored["TaxNumber"] == "123-456-789"
    assert mapping.fields_from(stored) == dataclasses.replace(ACME, country_code="")
    # and the contact carries Xero's id and its deep link
    assert contact.id == stored["ContactID"] and contact.name == "Acme Ltd" and contact.active
    assert contact.url == ("https://go.xero.com/organisationlogin/default.aspx?shortcode="
                           f"{sandbox.short_code()}&redirecturl=/Contacts/View/{contact.id}")


def test_create_sends_summarize_errors_false_and_a_key_over_the_exact_body(sandbox):
    # When
    sandbox.provider().create_contact(ACME, idempotency_key="int-xero:7:create")
    # Then
    [call] = sandbox.calls("PUT", "/Contacts")
    headers = {k.lower(): v for k, v in call["headers"].items()}
    assert call["query"] == {"summarizeErrors": "false"}
    assert headers["idempotency-key"] == idempotency_key("int-xero:7:create", call["body"].encode(), length=64)
    assert headers["xero-tenant-id"] == sandbox.tenant


def test_a_retried_create_is_answered_from_the_first_write(sandbox):
    # Given a create whose answer the client did not use
    provider = sandbox.provider()
    first = provider.create_contact(ACME, idempotency_key="int-xero:7:create")
    # When the same create is sent again
    again = provider.create_contact(ACME, idempotency_key="int-xero:7:create")
    # Then Xero replays it: one contact, the same id
    assert again.id == first.id
    assert len(sandbox.stored()) == 1


def test_update_overwrites_clears_emptied_fields_and_keeps_the_account_number(sandbox):
    # Given
    provider = sandbox.provider()
    created = provider.create_contact(ACME, idempotency_key="int-xero:7:create")
    emptied = dataclasses.replace(ACME, name="Acme Limited", email="", mobile="", address_line2="",
                                  account_number="")
    # When
    updated = provider.update_contact(created.id, emptied, idempotency_key="int-xero:7:update")
    # Then
    [stored] = sandbox.stored()
    assert updated.id == created.id and updated.name == "Acme Limited"
    assert stored["EmailAddress"] == ""
    assert _by_type(stored["Phones"], "PhoneType")["MOBILE"]["PhoneNumber"] == ""
    assert "AddressLine2" not in _by_type(stored["Addresses"], "AddressType")["STREET"]
    assert stored["AccountNumber"] == "ACME-1"  # never sent empty, so never cleared
    [call] = sandbox.calls("POST", f"/Contacts/{created.id}")
    assert "AccountNumber" not in call["json"]["Contacts"][0]


def test_a_same_name_contact_is_a_name_clash_for_create_and_update(sandbox):
    # Given
    provider = sandbox.provider()
    provider.create_contact(ACME, idempotency_key="a")
    other = provider.create_contact(ContactFields(name="Other"), idempotency_key="b")
    # When / Then
    with pytest.raises(NameClash) as created:
        provider.create_contact(ContactFields(name=" acme LTD "), idempotency_key="c")
    with pytest.raises(NameClash):
        provider.update_contact(other.id, ContactFields(name="ACME LTD"), idempotency_key="d")
    assert created.value.existing_id is None  # the sync looks it up by name
    assert "must be unique across all active contacts" in str(created.value)


def test_a_used_account_number_is_an_account_number_clash(sandbox):
    # Given
    provider = sandbox.provider()
    provider.create_contact(ACME, idempotency_key="a")
    # When / Then
    with pytest.raises(AccountNumberClash):
        provider.create_contact(ContactFields(name="Beta", account_number="ACME-1"), idempotency_key="b")


def test_other_validation_errors_are_rejected_with_xeros_words(sandbox):
    # When
    with pytest.raises(Rejected) as refused:
        sandbox.provider().create_contact(ContactFields(name="Bad", email="not-an-email"), idempotency_key="a")
    # Then
    assert type(refused.value) is Rejected
    assert refused.value.reason == "Xero refused the contact: Email address must be valid."


def test_updating_a_missing_contact_is_contact_not_found(sandbox):
    with pytest.raises(ContactNotFound):
        sandbox.provider().update_contact("5cc8cf28-567e-4d43-b287-687cfcaec47c", ACME, idempotency_key="a")


def test_a_batch_create_reports_each_element(sandbox):
    # Given an existing "Taken"
    provider = sandbox.provider()
    provider.create_contact(ContactFields(name="Taken"), idempotency_key="a")
    batch = [(ContactFields(name="First"), "k1"), (ContactFields(name="taken"), "k2"),
             (ContactFields(name="Third"), "k3")]
    # When
    results = provider.create_contacts(batch)
    # Then one call, one result per element, in order
    assert len(sandbox.calls("PUT", "/Contacts")) == 2
    assert [r.contact.name if r.contact else None for r in results] == ["First", None, "Third"]
    assert isinstance(results[1].error, NameClash)
    assert sorted(c["Name"] for c in sandbox.stored()) == ["First", "Taken", "Third"]


def test_a_batch_larger_than_fifty_is_sent_in_chunks(sandbox):
    # When
    results = sandbox.provider().create_contacts([(ContactFields(name=f"C{n}"), f"k{n}") for n in range(51)])
    # Then
    assert [len(c["json"]["Contacts"]) for c in sandbox.calls("PUT", "/Contacts")] == [50, 1]
    assert all(r.contact is not None for r in results) and len(results) == 51


def test_a_create_whose_answer_was_lost_is_recovered_by_its_idempotency_key(sandbox):
    # Given Xero saves the contact but the answer never arrives
    provider = sandbox.provider()
    sandbox.control("POST", "faults", json={"path": "/Contacts$", "method": "PUT", "mode": "lost"})
    with pytest.raises(Transient):
        provider.create_contact(ACME, idempotency_key="int-xero:7:create")
    # When the sync retries the same create
    contact = provider.create_contact(ACME, idempotency_key="int-xero:7:create")
    # Then the first write's answer comes back: one contact, no name clash
    [stored] = sandbox.stored()
    assert contact.id == stored["ContactID"]
