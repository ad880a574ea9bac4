"""XeroProvider reads against the stand-in: look-ups, merges, search, paging, links, faults."""
from __future__ import annotations

import pytest

from core.errors import RateLimited
from core.models import ContactFields

MISSING = "5cc8cf28-567e-4d43-b287-687cfcaec47c"


def test_get_contact_returns_active_contacts_only(sandbox):
    # Given
    active = sandbox.seed(Name="Active Co")
    archived = sandbox.seed(Name="Gone Co", ContactStatus="ARCHIVED")
    provider = sandbox.provider()
    # When / Then
    assert provider.get_contact(active["ContactID"].upper()).id == active["ContactID"]
    assert provider.get_contact(archived["ContactID"]) is None
    assert provider.get_contact(MISSING) is None
    calls_before = len(sandbox.calls())
    assert provider.get_contact("not-a-guid") is None
    assert len(sandbox.calls()) == calls_before  # a malformed id costs no call


def test_a_merged_contact_is_followed_to_the_contact_it_was_merged_into(sandbox):
    # Given A merged into B
    source, target = sandbox.seed(Name="Old Name"), sandbox.seed(Name="New Name")
    sandbox.control("POST", "merge", json={"tenant": sandbox.tenant, "from": source["ContactID"],
                                            "into": target["ContactID"]})
    provider = sandbox.provider()
    # When
    followed = provider.get_contact(source["ContactID"])
    many = provider.get_contacts([source["ContactID"], target["ContactID"], MISSING])
    # Then
    assert followed.id == target["ContactID"] and followed.name == "New Name"
    assert {k: c.id for k, c in many.items()} == {
        source["ContactID"]: target["ContactID"], target["ContactID"]: target["ContactID"]}


def test_get_contacts_asks_for_ids_in_chunks_of_fifty(sandbox):
    # Given
    ids = [sandbox.seed(Name=f"Chunk {n}")["ContactID"] for n in range(60)]
    archived = sandbox.seed(Name="Archived", ContactStatus="ARCHIVED")["ContactID"]
    # When
    found = sandbox.provider().get_contacts(ids + [archived])
    # Then
    assert set(found) == set(ids)
    asked = [c["query"]["IDs"].split(",") for c in sandbox.calls("GET", "/Contacts")]
    assert [len(chunk) for chunk in asked] == [50, 11]


def test_find_by_name_is_trimmed_case_insensitive_and_active_only(sandbox):
    # Given
    wanted = sandbox.seed(Name='The "Big" Rental Co')
    sandbox.seed(Name="Archived Co", ContactStatus="ARCHIVED")
    provider = sandbox.provider()
    # When / Then
    assert provider.find_by_name('  the "big" rental CO ').id == wanted["ContactID"]
    assert provider.find_by_name("Archived Co") is None
    first_where = sandbox.calls("GET", "/Contacts")[0]["query"]["where"]
    assert first_where == 'ContactStatus=="ACTIVE"&&Name=="the \\"big\\" rental CO"'


def test_search_returns_active_names_containing_the_text_at_most_limit(sandbox):
    # Given 12 matching names, one e-mail-only match and an archived match
    for n in range(12):
        sandbox.seed(Name=f"Rental Co {n:02}")
    sandbox.seed(Name="Zed", EmailAddress="rental@zed.test")
    sandbox.seed(Name="Rental Archived", ContactStatus="ARCHIVED")
    # When
    found = sandbox.provider().search("rental", limit=10)
    # Then
    assert [c.name for c in found] == [f"Rental Co {n:02}" for n in range(10)]
    assert all(c.url and c.url.startswith("https://go.xero.com/") for c in found)


def test_list_contacts_pages_through_active_contacts_with_their_fields(sandbox):
    # Given 130 active contacts and one archived
    sandbox.control("POST", "contacts", json={"tenant": sandbox.tenant, "contact": {
        "Name": "Mapped", "EmailAddress": "m@x.test", "AccountNumber": "M-1",
        "Addresses": [{"AddressType": "POBOX", "AddressLine1": "PO Box 1", "City": "Auckland", "Country": "NZ"}],
        "Phones": [{"PhoneType": "DEFAULT", "PhoneAreaCode": "09", "PhoneNumber": "555 1234"}]}})
    for n in range(129):
        sandbox.seed(Name=f"Bulk {n:03}")
    sandbox.seed(Name="Archived", ContactStatus="ARCHIVED")
    # When
    listed = list(sandbox.provider().list_contacts())
    # Then
    assert len(listed) == 130 and len(sandbox.calls("GET", "/Contacts")) == 2
    fields = dict((c.name, f) for c, f in listed)["Mapped"]
    assert fields == ContactFields(name="Mapped", address_line1="PO Box 1", city="Auckland", country="NZ",
                                   country_code="NZ", email="m@x.test", phone="09 555 1234",
                                   account_number="M-1")


def test_the_short_code_is_read_once_and_saved(sandbox):
    # Given
    provider = sandbox.provider()
    # When
    links = [provider.create_contact(ContactFields(name=f"Linked {n}"), idempotency_key=str(n)).url
             for n in range(3)]
    # Then
    assert len(sandbox.calls("GET", "/Organisation")) == 1
    assert sandbox.saved == [{"short_code": sandbox.short_code()}]
    assert all(f"shortcode={sandbox.short_code()}&" in link for link in links)
    # and a provider built from the saved config does not ask again
    contact = sandbox.provider(config={"short_code": "!saved"}).get_contact(links[0].rsplit("/", 1)[1])
    assert contact.url.endswith(f"shortcode=!saved&redirecturl=/Contacts/View/{contact.id}")
    assert len(sandbox.calls("GET", "/Organisation")) == 1


def test_a_429_becomes_rate_limited_with_its_retry_after(serve_sandbox):
    # Given a tenant allowed one call per 30 s
    sandbox = serve_sandbox(rate_limit=1, window=30)
    provider = sandbox.provider(config={"short_code": "!abcde"})
    provider.get_contact(MISSING)
    # When / Then
    with pytest.raises(RateLimited) as limited:
        provider.get_contact(MISSING)
    assert 29 <= limited.value.retry_after <= 30
    assert "minute" in str(limited.value)


def test_an_expired_token_is_refreshed_once_and_the_call_retried(sandbox):
    # Given
    made = sandbox.seed(Name="Still There")
    sandbox.control("POST", "expire", json={"tenant": sandbox.tenant})
    # When
    contact = sandbox.provider(config={"short_code": "!abcde"}).get_contact(made["ContactID"])
    # Then
    assert contact.id == made["ContactID"]
    assert sandbox.tokens.refreshes == 1
