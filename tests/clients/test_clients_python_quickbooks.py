"""The QuickBooks stand-in driven by ``python-quickbooks`` with ``intuit-oauth`` (issue 17, gaps 5–7).

``intuit-oauth`` is pointed at the stand-in the way the library allows: its ``environment`` is
the URL of an OpenID discovery document, which the stand-in serves. ``python-quickbooks`` takes
its API base from ``api_url_v3``, set on the client instance.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.cdc import change_data_capture
from quickbooks.exceptions import (
    ObjectNotFoundException,
    QuickbooksException,
    ValidationException,
)
from quickbooks.objects.base import Address, EmailAddress, Ref
from quickbooks.objects.companycurrency import CompanyCurrency
from quickbooks.objects.customer import Customer
from quickbooks.objects.term import Term

from sandbox import quickbooks
from sandbox.runner import ServerThread
from tests.clients.conftest import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, Receiver

VERIFIER = "verifier-token-of-the-app"


def _auth_client(server: ServerThread) -> AuthClient:
    return AuthClient(CLIENT_ID, CLIENT_SECRET, REDIRECT_URI,
                      environment=f"{server.url}/.well-known/openid_configuration")


def _connect(server: ServerThread) -> tuple[AuthClient, str]:
    """Consent (automatic in the stand-in) and the code exchange, through intuit-oauth."""
    auth = _auth_client(server)
    url = auth.get_authorization_url([Scopes.ACCOUNTING])
    back = requests.get(url, allow_redirects=False, timeout=5)
    query = parse_qs(urlparse(back.headers["Location"]).query)
    assert query["state"] == [auth.state_token]
    auth.get_bearer_token(query["code"][0], realm_id=query["realmId"][0])
    return auth, query["realmId"][0]


def _client(server: ServerThread, auth: AuthClient, realm: str) -> QuickBooks:
    client = QuickBooks(auth_client=auth, refresh_token=auth.refresh_token, company_id=realm,
                        minorversion=75)
    client.api_url_v3 = f"{server.url}/v3"
    return client


@pytest.fixture
def company(serve: Any) -> tuple[ServerThread, AuthClient, QuickBooks]:
    server = serve(quickbooks.create_app, clients={CLIENT_ID: CLIENT_SECRET},
                   webhook_time_scale=0.001)
    auth, realm = _connect(server)
    return server, auth, _client(server, auth, realm)


def _customer(name: str, **more: Any) -> Customer:
    customer = Customer()
    customer.DisplayName = name
    for key, value in more.items():
        setattr(customer, key, value)
    return customer


def test_discovery_code_exchange_and_refresh(company: Any) -> None:
    server, auth, _ = company
    # Then the exchange gave tokens; a refresh rotates them (Basic auth, as intuit-oauth sends)
    first = auth.refresh_token
    auth.refresh()
    assert auth.access_token and auth.refresh_token != first
    with pytest.raises(AuthClientError) as refused:
        auth.refresh(refresh_token=first)
    assert refused.value.status_code == 400


def test_create_read_update_query_with_the_librarys_default_customer(company: Any) -> None:
    _, _, client = company
    # Given python-quickbooks' Customer, with its default BillAddr.Note, IsProject and
    # OpenBalanceDate (issue 17, gap 5)
    address = Address()
    address.Line1, address.City, address.PostalCode = "1 High St", "Leeds", "LS1 1AA"
    email = EmailAddress()
    email.Address = "accounts@fot.example"
    customer = _customer("Festival Of Testing", BillAddr=address, PrimaryEmailAddr=email,
                         CompanyName="Festival Of Testing Ltd")
    # When
    customer.save(qb=client)
    read = Customer.get(customer.Id, qb=client)
    read.Notes = "edited by the library"
    read.save(qb=client)  # a full update of what was read
    again = Customer.get(customer.Id, qb=client)
    found = Customer.filter(DisplayName="Festival Of Testing", qb=client)
    queried = Customer.query("SELECT * FROM Customer WHERE DisplayName LIKE 'Festival%'", qb=client)
    # Then
    assert read.BillAddr.City == "Leeds" and read.PrimaryEmailAddr.Address == "accounts@fot.example"
    assert again.Notes == "edited by the library" and again.SyncToken == "1"
    assert [c.Id for c in found] == [customer.Id] == [c.Id for c in queried]


def test_a_duplicate_name_is_6240(company: Any) -> None:
    _, _, client = company
    _customer("Twice").save(qb=client)
    with pytest.raises(QuickbooksException) as refused:
        _customer("twice").save(qb=client)
    assert refused.value.error_code == 6240
    assert "Id=" in refused.value.detail


def test_a_stale_update_is_5010(company: Any) -> None:
    _, _, client = company
    made = _customer("Stale")
    made.save(qb=client)
    mine, theirs = Customer.get(made.Id, qb=client), Customer.get(made.Id, qb=client)
    theirs.Notes = "theirs"
    theirs.save(qb=client)
    mine.Notes = "mine"
    with pytest.raises(QuickbooksException) as refused:
        mine.save(qb=client)
    assert refused.value.error_code == 5010


def test_a_429_is_parsed_by_the_library(serve: Any) -> None:
    server = serve(quickbooks.create_app, rate_limit=2, clients={CLIENT_ID: CLIENT_SECRET})
    auth, realm = _connect(server)
    client = _client(server, auth, realm)
    Customer.all(qb=client)
    Customer.all(qb=client)
    with pytest.raises(QuickbooksException) as refused:
        Customer.all(qb=client)
    assert refused.value.error_code == 3001
    assert "ThrottleExceeded" in refused.value.message


def test_lookups_and_defaults_on_a_new_customer(company: Any) -> None:
    _, _, client = company
    # Given the company's terms and currencies, read as a client validates its defaults
    terms = {t.Name: t.Id for t in Term.all(qb=client)}
    currencies = {c.Code for c in CompanyCurrency.all(qb=client)}
    assert "Net 30" in terms and "GBP" in currencies
    currency, term = Ref(), Ref()
    currency.value, term.value = "GBP", terms["Net 30"]
    # When
    made = _customer("Pounds", CurrencyRef=currency, SalesTermRef=term)
    made.save(qb=client)
    # Then
    read = Customer.get(made.Id, qb=client)
    assert read.CurrencyRef.value == "GBP" and read.SalesTermRef.value == terms["Net 30"]
    # and an unknown term is refused
    wrong = Ref()
    wrong.value = "999"
    with pytest.raises(ValidationException) as refused:
        _customer("No such term", SalesTermRef=wrong).save(qb=client)
    assert refused.value.error_code == 2500


def test_change_data_capture_shows_changes_and_deletions(company: Any) -> None:
    server, _, client = company
    # Given
    kept, merged_away, deleted = (_customer(n) for n in ("Kept", "Merged away", "Deleted"))
    for customer in (kept, merged_away, deleted):
        customer.save(qb=client)
    since = datetime.now(UTC) - timedelta(seconds=1)
    requests.post(f"{server.url}/_sandbox/merge", timeout=5,
                  json={"tenant": client.company_id, "from": merged_away.Id, "into": kept.Id})
    requests.post(f"{server.url}/_sandbox/delete", timeout=5,
                  json={"tenant": client.company_id, "contact_id": deleted.Id})
    # When
    changes = change_data_capture([Customer], since.strftime("%Y-%m-%dT%H:%M:%S"), qb=client)
    later = change_data_capture([Customer], datetime.now(UTC) + timedelta(minutes=1), qb=client)
    # Then
    rows = {c.Id: getattr(c, "status", "") for c in changes.Customer}
    assert rows == {kept.Id: "", merged_away.Id: "Deleted", deleted.Id: "Deleted"}
    assert not hasattr(later, "Customer")
    with pytest.raises(ObjectNotFoundException):
        Customer.get(deleted.Id, qb=client)


def test_change_data_capture_refuses_more_than_30_days_back(company: Any) -> None:
    _, _, client = company
    with pytest.raises(ValidationException) as refused:
        change_data_capture([Customer], datetime.now(UTC) - timedelta(days=31), qb=client)
    assert "30 days" in refused.value.detail


def test_webhooks_verify_with_the_librarys_own_check(company: Any, receiver: Receiver) -> None:
    server, _, client = company
    requests.post(f"{server.url}/_sandbox/webhooks", timeout=5,
                  json={"url": receiver.url, "verifier_token": VERIFIER})
    # Given
    survivor, loser = _customer("Survivor"), _customer("Loser")
    survivor.save(qb=client)
    loser.save(qb=client)
    # When
    requests.post(f"{server.url}/_sandbox/merge", timeout=5,
                  json={"tenant": client.company_id, "from": loser.Id, "into": survivor.Id})
    # Then three notifications, in order, each verified by python-quickbooks
    deliveries = receiver.wait_for(3)
    for delivery in deliveries:
        assert client.validate_webhook_signature(delivery["body"].decode(),
                                                 delivery["headers"]["intuit-signature"], VERIFIER)
    entities = [json.loads(d["body"])["eventNotifications"][0]["dataChangeEvent"]["entities"][0]
                for d in deliveries]
    assert [(e["operation"], e["id"]) for e in entities] == [
        ("Create", survivor.Id), ("Create", loser.Id), ("Merge", survivor.Id)]
    assert entities[-1]["deletedId"] == loser.Id
