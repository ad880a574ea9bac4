"""SageProvider reads and business selection against the stand-in."""
from __future__ import annotations

import requests

from core.models import Contact, ContactFields
from providers.sage import SageProvider
from providers.sage.mapping import web_link_from
from sandbox.runner import ServerThread
from sandbox.sage import create_app


def _api_calls(stand, path_end: str = "") -> list[dict]:
    return [c for c in stand.calls() if c["path"].endswith(path_end)]


def test_the_lead_business_is_resolved_once_and_saved(stand, provider_factory):
    # Given: a user with two businesses, an integration naming none
    grant = stand.grant()
    requests.post(f"{stand.url}/_sandbox/businesses", json={"tenant": grant["tenant"]}, timeout=5)
    saved: list[dict] = []
    config: dict = {}
    provider = provider_factory(grant, config=config, saved=saved)
    # When
    provider.create_contact(ContactFields(name="First"), idempotency_key="k1")
    provider.search("Fir")
    # Then
    assert saved == [{"business_id": grant["tenant"]}]
    assert config["business_id"] == grant["tenant"]
    assert len(_api_calls(stand, "/businesses/lead")) == 1
    contact_calls = _api_calls(stand, "/contacts")
    assert [c["headers"]["X-Business"] for c in contact_calls] == [grant["tenant"]] * 2


def test_a_stored_business_is_used_without_asking(stand, provider_factory):
    # Given: the integration's business is the user's second one
    grant = stand.grant()
    second = requests.post(f"{stand.url}/_sandbox/businesses", json={"tenant": grant["tenant"]},
                           timeout=5).json()["id"]
    provider = provider_factory(grant, config={"business_id": second})
    # When
    provider.create_contact(ContactFields(name="Second's"), idempotency_key="k")
    # Then
    assert _api_calls(stand, "/businesses/lead") == []
    assert [c["name"] for c in stand.contacts(second)] == ["Second's"]
    assert stand.contacts(grant["tenant"]) == []


def test_get_contact_is_none_when_missing_inactive_or_malformed(provider, stand, grant):
    # Given
    active = stand.seed(grant["tenant"], {"name": "Here", "main_contact_person": {"email": "h@x.io"}})
    inactive = stand.seed(grant["tenant"], {"name": "Gone"}, active=False)
    # When
    found = provider.get_contact(active["id"])
    # Then
    assert found == Contact(id=active["id"], name="Here", email="h@x.io", active=True,
                            url=active["links"][0]["href"])
    assert provider.get_contact(inactive["id"]) is None
    assert provider.get_contact("f" * 32) is None
    calls_before = len(stand.calls())
    assert provider.get_contact("not-a-sage-id") is None
    assert len(stand.calls()) == calls_before
    assert provider.get_contacts([active["id"], inactive["id"]]) == {active["id"]: found}


def test_find_by_name_among_duplicates_picks_an_active_exact_one(provider, stand, grant):
    # Given: Sage allows duplicate names
    stand.seed(grant["tenant"], {"name": "Acme"}, active=False)
    wanted = stand.seed(grant["tenant"], {"name": "  ACME "})
    stand.seed(grant["tenant"], {"name": "Acme Widgets"})
    stand.seed(grant["tenant"], {"name": "Acme", "contact_type_ids": ["VENDOR"]})
    # When
    found = provider.find_by_name("acme")
    # Then
    assert found is not None and found.id == wanted["id"]
    (call,) = _api_calls(stand, "/contacts")
    assert call["query"]["contact_type_id"] == "CUSTOMER" and call["query"]["search"] == "acme"
    assert provider.find_by_name("Nobody") is None


def test_search_gives_active_customers_up_to_the_limit(provider, stand, grant):
    # Given
    for number in range(4):
        stand.seed(grant["tenant"], {"name": f"Bolt Hire {number}",
                                     "main_contact_person": {"email": f"b{number}@x.io"}})
    stand.seed(grant["tenant"], {"name": "Bolt Hire Old"}, active=False)
    stand.seed(grant["tenant"], {"name": "Unrelated", "reference": "BOLT9"})
    # When
    some = provider.search("bolt", limit=3)
    every = provider.search("bolt")
    # Then
    assert [c.name for c in some] == ["Bolt Hire 0", "Bolt Hire 1", "Bolt Hire 2"]
    assert {c.name for c in every} == {f"Bolt Hire {n}" for n in range(4)}
    assert all(c.url and c.email for c in every)


def test_list_contacts_pages_through_every_active_customer(provider, stand, grant):
    # Given: more than one page of 200
    app_state = stand.app.extensions["sandbox"]
    for number in range(203):
        stand.seed(grant["tenant"], {"name": f"Customer {number:03d}"})
    stand.seed(grant["tenant"], {
        "name": "Zed Ltd", "reference": "Z1", "tax_number": "GB9",
        "main_address": {"address_line_1": "1 Road", "city": "York", "postal_code": "YO1",
                         "region": "N Yorks", "country_id": "GB"},
        "main_contact_person": {"email": "z@z.io", "telephone": "1", "mobile": "2", "fax": "3"}})
    stand.seed(grant["tenant"], {"name": "Inactive"}, active=False)
    # When
    listed = list(provider.list_contacts())
    # Then
    assert app_state.contact_count() == 205
    assert len(listed) == 204
    pages = [c["query"] for c in _api_calls(stand, "/contacts")]
    assert [(q["page"], q["items_per_page"], q["attributes"]) for q in pages] == [
        ("1", "200", "all"), ("2", "200", "all")]
    contact, fields = listed[-1]
    assert contact.name == "Zed Ltd"
    assert fields == ContactFields(
        name="Zed Ltd", address_line1="1 Road", city="York", region="N Yorks", postcode="YO1",
        country="GB", country_code="GB", email="z@z.io", phone="1", mobile="2", fax="3",
        tax_number="GB9", account_number="Z1")


def test_a_web_link_off_sages_hosts_is_not_kept(provider_factory):
    # Given: a stand-in whose links point at a look-alike host
    with ServerThread(create_app(web_url="https://accounts-extra.sageone.com.evil.example")) as server:
        grant = requests.post(f"{server.url}/_sandbox/tokens", json={}, timeout=5).json()
        provider = provider_factory(grant, url=server.url)
        # When
        contact = provider.create_contact(ContactFields(name="Elsewhere"), idempotency_key="k")
    # Then
    assert contact.url is None and provider.web_link(contact) is None


def test_web_link_rules():
    html = {"rel": "alternate", "type": "text/html"}
    assert web_link_from([{**html, "href": "https://accounting.na.sageone.com/contacts/customers/9"}]) \
        == "https://accounting.na.sageone.com/contacts/customers/9"
    assert web_link_from([{"rel": "alternative", "type": "text/html",
                           "href": "https://app.sage.com/c/1"}]) == "https://app.sage.com/c/1"
    assert web_link_from([{**html, "href": "http://accounts-extra.sageone.com/c/1"}]) is None
    assert web_link_from([{**html, "href": "https://sageone.com.evil.example/c/1"}]) is None
    assert web_link_from([{"rel": "self", "type": "text/html",
                           "href": "https://accounts-extra.sageone.com/c/1"}]) is None
    assert web_link_from([{**html, "type": "application/json",
                           "href": "https://accounts-extra.sageone.com/c/1"}]) is None
    assert web_link_from(None) is None


def test_valid_contact_ids_are_32_lowercase_hex():
    assert SageProvider.valid_contact_id("cced5085c2d24394a758c5d16b38fca1")
    assert not SageProvider.valid_contact_id("CCED5085C2D24394A758C5D16B38FCA1")
    assert not SageProvider.valid_contact_id("cced5085-c2d2-4394-a758-c5d16b38fca1")
    assert not SageProvider.valid_contact_id("130175300")
