"""QuickBooksProvider reads against the stand-in: by id, by name, search, listing, links."""
from __future__ import annotations

import pytest

from core.errors import CredentialsRefused
from core.models import Contact
from providers.base import ProviderContext
from providers.quickbooks import QuickBooksProvider
from providers.quickbooks.client import IDS_PER_QUERY
from tests.providers.quickbooks.quickbooks_provider_support import Realm


def test_get_contact_is_none_for_missing_inactive_or_malformed(realm: Realm) -> None:
    # Given
    live = realm.seed(DisplayName="Live Co", PrimaryEmailAddr={"Address": "a@live.test"})
    gone = realm.seed(DisplayName="Gone Co", Active=False)
    vendor = realm.seed("Vendor", DisplayName="Supplier")
    # When / Then
    found = realm.provider.get_contact(live["Id"])
    assert found == Contact(id=live["Id"], name="Live Co", email="a@live.test", version="0",
                            url=f"https://app.qbo.intuit.com/app/customerdetail?nameId={live['Id']}")
    assert realm.provider.get_contact(gone["Id"]) is None
    assert realm.provider.get_contact(vendor["Id"]) is None
    assert realm.provider.get_contact("999") is None
    assert realm.provider.get_contact("not-an-id") is None


def test_get_contacts_returns_the_active_ones_in_chunks(realm: Realm) -> None:
    ids = [realm.seed(DisplayName=f"Customer {i}")["Id"] for i in range(IDS_PER_QUERY + 5)]
    gone = realm.seed(DisplayName="Gone", Active=False)["Id"]
    found = realm.provider.get_contacts([*ids, gone, "12345", "x"])
    assert set(found) == set(ids)
    queries = [c for c in realm.calls() if c["path"].endswith("/query")]
    assert len(queries) == 2 and "Id IN (" in queries[0]["query"]["query"]


def test_find_by_name_escapes_and_compares_like_quickbooks(realm: Realm) -> None:
    # Given
    wanted = realm.seed(DisplayName="O'Brien \\ Sons")
    realm.seed(DisplayName="OBrien Sons")
    # When
    found = realm.provider.find_by_name("  o'brien \\ sons ")
    # Then
    assert found is not None and found.id == wanted["Id"]
    assert realm.calls()[-1]["query"]["query"] == (
        "select * from Customer where DisplayName = 'o\\'brien \\\\ sons'"
    )
    assert realm.provider.find_by_name("Nobody") is None


def test_search_with_a_quote_in_it(realm: Realm) -> None:
    for name in ("King's Groceries", "Kingston Hire", "Queen's Events"):
        realm.seed(DisplayName=name)
    found = realm.provider.search("g's", limit=10)
    assert [c.name for c in found] == ["King's Groceries"]
    assert "MAXRESULTS 10" in realm.calls()[-1]["query"]["query"]
    assert [c.name for c in realm.provider.search("s", limit=2)] == ["King's Groceries", "Kingston Hire"]


def test_list_contacts_maps_fields_back_without_the_tax_mask(realm: Realm) -> None:
    realm.seed(DisplayName="Acme", PrimaryTaxIdentifier="GB123456789",
               BillAddr={"Line1": "1 High St", "City": "Leeds", "Country": "GB"},
               Mobile={"FreeFormNumber": "07700 900000"})
    realm.seed(DisplayName="Gone", Active=False)
    listed = list(realm.provider.list_contacts())
    assert len(listed) == 1
    contact, fields = listed[0]
    assert contact.name == fields.name == "Acme"
    assert (fields.address_line1, fields.city, fields.country_code) == ("1 High St", "Leeds", "GB")
    assert fields.mobile == "07700 900000"
    assert fields.tax_number == ""  # only the mask is ever shown: never copied back
    assert "STARTPOSITION 1" in realm.calls()[-1]["query"]["query"]


def test_web_link_and_id_shape(realm: Realm) -> None:
    assert realm.provider.web_link(Contact(id="58", name="x")) == (
        "https://app.qbo.intuit.com/app/customerdetail?nameId=58"
    )
    assert QuickBooksProvider.valid_contact_id("58")
    for bad in ("", "0", "05", "5a", "B5B40C60-F4A4-4D32-B3F4-8CD54787DAED"):
        assert not QuickBooksProvider.valid_contact_id(bad)


def test_intuit_sandbox_companies_link_to_the_sandbox_web_app(realm: Realm) -> None:
    provider = QuickBooksProvider(ProviderContext(
        integration_id="i", api_url="https://sandbox-quickbooks.api.intuit.com/v3",
        tokens=realm.tokens, tenant="1",
    ))
    assert provider.web_link(Contact(id="7", name="x")).startswith("https://app.sandbox.qbo.intuit.com/")


def test_provider_declares_its_constants() -> None:
    assert (QuickBooksProvider.kind, QuickBooksProvider.title) == ("quickbooks", "QuickBooks Online")
    assert QuickBooksProvider.csv_column == "Linked QuickBooks customer"
    assert QuickBooksProvider.enforces_unique_names is True and QuickBooksProvider.max_batch == 30
    assert QuickBooksProvider.oauth_scopes == "com.intuit.quickbooks.accounting"
    assert QuickBooksProvider.oauth_client_auth == "basic"


@pytest.mark.parametrize("tenant", [None, ""])
def test_a_provider_without_realm_asks_for_a_reconnect(realm: Realm, tenant: str | None) -> None:
    with pytest.raises(CredentialsRefused):
        QuickBooksProvider(ProviderContext(integration_id="i", api_url="http://x/v3",
                                           tokens=realm.tokens, tenant=tenant))
