"""The Xero stand-in driven by Xero's official SDK, ``xero-python`` (issue 17, gaps 1–4).

The SDK is pointed at the stand-in through what it offers: ``base_url`` of its API classes and
the token URL its ``TokenApi`` posts refreshes to. The code exchange, which the SDK leaves to an
OAuth library, is made with ``requests-oauthlib``, as the SDK's own sample app does.
"""
from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import urllib3
from requests_oauthlib import OAuth2Session
from xero_python.accounting import (
    AccountingApi,
    Address,
    Contact,
    ContactGroup,
    ContactGroups,
    Contacts,
    CurrencyCode,
    Phone,
)
from xero_python.api_client import ApiClient, Configuration
from xero_python.api_client.oauth2 import OAuth2Token, TokenApi
from xero_python.exceptions import AccountingBadRequestException, RateLimitException
from xero_python.identity import IdentityApi

from sandbox import xero
from sandbox.runner import ServerThread
from tests.clients.conftest import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI

SCOPES = ["offline_access", "accounting.contacts", "accounting.settings.read"]


class Sdk:
    """One SDK client bound to a stand-in, holding its token as an app would."""

    def __init__(self, server: ServerThread, token: dict[str, Any]) -> None:
        self.server = server
        self.token = dict(token)
        self.client = ApiClient(
            Configuration(oauth2_token=OAuth2Token(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)),
            pool_threads=1,
            oauth2_token_getter=lambda: self.token,
            oauth2_token_saver=self._save,
        )
        self.accounting = AccountingApi(self.client, base_url=f"{server.url}/api.xro/2.0")
        self.identity = IdentityApi(self.client, base_url=server.url)
        [connection] = self.identity.get_connections()
        self.tenant = str(connection.tenant_id)

    def _save(self, token: dict[str, Any]) -> None:
        self.token = dict(token)


@pytest.fixture
def token_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Where the SDK's refresh goes: the SDK names the URL as a class attribute only."""
    def point(server: ServerThread) -> None:
        monkeypatch.setattr(TokenApi, "refresh_token_url", f"{server.url}/connect/token")
    yield point


def _consent(server: ServerThread) -> dict[str, Any]:
    """Authorize (the stand-in consents at once) and exchange the code as the SDK's sample app
    does, with requests-oauthlib and the client credentials in the body."""
    session = OAuth2Session(CLIENT_ID, redirect_uri=REDIRECT_URI, scope=SCOPES)
    url, state = session.authorization_url(f"{server.url}/identity/connect/authorize")
    back = requests.get(url, allow_redirects=False, timeout=5)
    assert back.status_code == 302
    query = parse_qs(urlparse(back.headers["Location"]).query)
    assert query["state"] == [state]
    token = session.fetch_token(f"{server.url}/connect/token", code=query["code"][0],
                                client_secret=CLIENT_SECRET, include_client_id=True)
    return {**token, "scope": SCOPES}


@pytest.fixture
def sdk(serve: Any, token_url: Any) -> Sdk:
    server = serve(xero.create_app, clients={CLIENT_ID: CLIENT_SECRET})
    token_url(server)
    return Sdk(server, _consent(server))


def test_authorize_code_exchange_and_connections(sdk: Sdk) -> None:
    # Then (the fixture consented, exchanged the code and read /Connections through the SDK)
    assert sdk.token["access_token"] and sdk.token["refresh_token"]
    assert sdk.tenant


def test_refresh_with_body_credentials_through_the_sdk(sdk: Sdk) -> None:
    # Given an access token the SDK believes expired
    before = dict(sdk.token)
    sdk.token["expires_at"] = time.time() - 10
    # When the SDK refreshes it before a call (client id and secret in the form body)
    found = sdk.accounting.get_contacts(sdk.tenant)
    # Then
    assert found.contacts == []
    assert sdk.token["refresh_token"] != before["refresh_token"]
    assert sdk.token["access_token"] != before["access_token"]


def test_refresh_with_basic_auth(sdk: Sdk) -> None:
    # When (Xero's documented client authentication)
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    answer = requests.post(f"{sdk.server.url}/connect/token", timeout=5,
                           headers={"Authorization": f"Basic {basic}"},
                           data={"grant_type": "refresh_token",
                                 "refresh_token": sdk.token["refresh_token"]})
    # Then
    assert answer.status_code == 200 and answer.json()["refresh_token"]


def test_a_wrong_secret_in_the_body_is_refused(sdk: Sdk) -> None:
    answer = requests.post(f"{sdk.server.url}/connect/token", timeout=5, data={
        "grant_type": "refresh_token", "refresh_token": sdk.token["refresh_token"],
        "client_id": CLIENT_ID, "client_secret": "wrong"})
    assert answer.status_code == 400 and answer.json() == {"error": "invalid_client"}


def test_create_read_update_and_search_contacts_with_sdk_bodies(sdk: Sdk) -> None:
    # Given the SDK's own Contact (it sends HasValidationErrors and HasAttachments: gap 1)
    contact = Contact(name="Festival Of Testing", email_address="accounts@fot.example",
                      account_number="FOT-1",
                      addresses=[Address(address_type="STREET", address_line1="1 High St",
                                         city="Leeds", postal_code="LS1 1AA")],
                      phones=[Phone(phone_type="DEFAULT", phone_number="0113 000")])
    # When
    created = sdk.accounting.create_contacts(sdk.tenant, Contacts(contacts=[contact]),
                                             summarize_errors=True).contacts[0]
    read = sdk.accounting.get_contact(sdk.tenant, created.contact_id).contacts[0]
    updated = sdk.accounting.update_contact(
        sdk.tenant, created.contact_id,
        Contacts(contacts=[Contact(contact_id=created.contact_id, name="Festival Of Testing Ltd")]),
    ).contacts[0]
    found = sdk.accounting.get_contacts(sdk.tenant, search_term="festival").contacts
    where = sdk.accounting.get_contacts(sdk.tenant, where='AccountNumber=="FOT-1"').contacts
    # Then
    assert read.name == "Festival Of Testing" and read.email_address == "accounts@fot.example"
    assert read.addresses[0].city == "Leeds"
    assert updated.name == "Festival Of Testing Ltd" and updated.email_address == "accounts@fot.example"
    assert [c.contact_id for c in found] == [created.contact_id]
    assert [c.contact_id for c in where] == [created.contact_id]


def test_a_duplicate_name_is_parsed_by_the_sdk(sdk: Sdk) -> None:
    # Given
    sdk.accounting.create_contacts(sdk.tenant, Contacts(contacts=[Contact(name="Twice")]))
    # When
    with pytest.raises(AccountingBadRequestException) as refused:
        sdk.accounting.create_contacts(sdk.tenant, Contacts(contacts=[Contact(name="twice ")]))
    # Then the SDK reads the validation message out of the Elements
    assert "already assigned to another contact" in refused.value.reason


def test_a_429_is_parsed_by_the_sdk(serve: Any, token_url: Any) -> None:
    # Given a stand-in allowing two calls a minute, and an app that turned urllib3's own
    # retries off (by default urllib3 sleeps for Retry-After and tries again: next test)
    server = serve(xero.create_app, rate_limit=2, clients={CLIENT_ID: CLIENT_SECRET})
    token_url(server)
    client = Sdk(server, _consent(server))
    client.client.rest_client.pool_manager = urllib3.PoolManager(retries=False)
    client.accounting.get_contacts(client.tenant)
    client.accounting.get_contacts(client.tenant)
    # When
    with pytest.raises(RateLimitException) as refused:
        client.accounting.get_contacts(client.tenant)
    # Then the SDK names the limit from X-Rate-Limit-Problem and sees Retry-After
    assert refused.value.rate_limit == "minute"
    assert int(refused.value.headers["Retry-After"]) >= 1


def test_the_sdk_waits_for_retry_after_and_gets_through(serve: Any, token_url: Any) -> None:
    # Given two calls per one-second window
    server = serve(xero.create_app, rate_limit=2, window=1.0, clients={CLIENT_ID: CLIENT_SECRET})
    token_url(server)
    client = Sdk(server, _consent(server))
    # When a third call is refused, urllib3 reads Retry-After, waits, and tries again
    answers = [client.accounting.get_contacts(client.tenant) for _ in range(3)]
    # Then
    assert [a.contacts for a in answers] == [[], [], []]
    assert requests.get(f"{server.url}/_sandbox/stats", timeout=5).json()["refused_429"] == 1


def test_if_modified_since_returns_only_later_changes_archived_included(sdk: Sdk) -> None:
    # Given an old contact, then (a second later) one archived and one edited
    def put(name: str) -> str:
        made = sdk.accounting.create_contacts(sdk.tenant, Contacts(contacts=[Contact(name=name)]))
        return str(made.contacts[0].contact_id)

    old, archived, edited = put("Old"), put("Archived"), put("Edited")
    time.sleep(1.1)
    since = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    requests.post(f"{sdk.server.url}/_sandbox/archive", timeout=5,
                  json={"tenant": sdk.tenant, "contact_id": archived})
    requests.post(f"{sdk.server.url}/_sandbox/contacts/{edited}", timeout=5,
                  json={"tenant": sdk.tenant, "EmailAddress": "new@example.com"})
    # When
    changed = sdk.accounting.get_contacts(sdk.tenant, if_modified_since=since,
                                          include_archived=True).contacts
    active_only = sdk.accounting.get_contacts(sdk.tenant, if_modified_since=since).contacts
    everything = sdk.accounting.get_contacts(sdk.tenant, include_archived=True).contacts
    later = sdk.accounting.get_contacts(sdk.tenant, include_archived=True,
                                        if_modified_since=since + timedelta(hours=1)).contacts
    # Then
    assert sorted(str(c.contact_id) for c in changed) == sorted([archived, edited])
    assert [str(c.contact_id) for c in active_only] == [edited]
    assert old in {str(c.contact_id) for c in everything}
    assert later == []


def test_defaults_lookups_and_group_membership_through_the_sdk(sdk: Sdk) -> None:
    # Given what a client reads to check its defaults (issue 15)
    currencies = {_text(c.code) for c in sdk.accounting.get_currencies(sdk.tenant).currencies}
    sales = [a.code for a in sdk.accounting.get_accounts(sdk.tenant).accounts
             if _text(a.type) == "REVENUE" and _text(a.status) == "ACTIVE"]
    group = sdk.accounting.create_contact_group(
        sdk.tenant, ContactGroups(contact_groups=[ContactGroup(name="Rental customers")])
    ).contact_groups[0]
    assert {"NZD", "GBP"} <= currencies and "200" in sales
    # When a contact is made with them, then joins the group
    made = sdk.accounting.create_contacts(sdk.tenant, Contacts(contacts=[Contact(
        name="Defaulted", default_currency=CurrencyCode.GBP, sales_default_account_code="200")])
    ).contacts[0]
    sdk.accounting.create_contact_group_contacts(
        sdk.tenant, group.contact_group_id, Contacts(contacts=[Contact(contact_id=made.contact_id)]))
    # Then
    read = sdk.accounting.get_contact(sdk.tenant, made.contact_id).contacts[0]
    assert _text(read.default_currency) == "GBP" and read.sales_default_account_code == "200"
    assert [g.name for g in read.contact_groups] == ["Rental customers"]
    members = sdk.accounting.get_contact_group(sdk.tenant, group.contact_group_id)
    assert [c.contact_id for c in members.contact_groups[0].contacts] == [made.contact_id]
    groups = sdk.accounting.get_contact_groups(sdk.tenant).contact_groups
    assert [g.name for g in groups] == ["Rental customers"]


def _text(value: Any) -> str:
    """The SDK gives some enums as Enum members, others as plain strings."""
    return str(getattr(value, "value", value))


def test_an_unknown_account_code_is_refused(sdk: Sdk) -> None:
    with pytest.raises(AccountingBadRequestException) as refused:
        sdk.accounting.create_contacts(sdk.tenant, Contacts(contacts=[Contact(
            name="Wrong account", sales_default_account_code="210")]))  # archived
    assert "account code '210'" in refused.value.reason
