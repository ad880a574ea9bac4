"""QuickBooks' ``currency`` default, checked against the company's Preferences (interface §11):
the home currency always; a foreign one only with multicurrency on and the currency in the
company's list; anything else a 400 naming it. Over HTTP against the stand-in, which answers
``select * from Preferences`` as QuickBooks does (``CurrencyPrefs.HomeCurrency``,
``MultiCurrencyEnabled``)."""
from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.ledger.support import qb_customer
from tests.support import integration_body, running_worker, seed_organisation, send_webhook, wait_event


@pytest.fixture
def worker(rt: Any) -> Any:
    yield from running_worker(rt)


def _company(sandbox: Any, currency: str, **preferences: Any) -> dict[str, Any]:
    """An integration body for a new QuickBooks company set up with ``preferences``."""
    body = integration_body(sandbox, "quickbooks", defaults={"currency": currency})
    if preferences:
        sandbox.control("quickbooks", "preferences", tenant=body["provider"]["realm_id"], **preferences)
    return body


def _query(body: dict[str, Any], text: str) -> requests.Response:
    provider = body["provider"]
    return requests.get(f"{provider['api_url']}/company/{provider['realm_id']}/query", timeout=5,
                        params={"query": text, "minorversion": "75"},
                        headers={"Authorization": f"Bearer {provider['access_token']}",
                                 "Accept": "application/json"})


def test_the_stand_in_answers_the_preferences_query(sandbox: Any) -> None:
    body = _company(sandbox, "USD", home_currency="GBP", multicurrency=False)
    answer = _query(body, "select * from Preferences")
    assert answer.status_code == 200, answer.text
    prefs = answer.json()["QueryResponse"]["Preferences"][0]["CurrencyPrefs"]
    assert prefs == {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "GBP", "name": "British Pound Sterling"}}


def test_the_home_currency_is_taken_and_a_live_create_carries_it(
        client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    # Given a company at home in USD, multicurrency on (USD is not in its CompanyCurrency list)
    body = _company(sandbox, "usd")
    created = client.post("/api/integrations", json=body, headers=admin)
    # Then the home currency is a valid default
    assert created.status_code == 201, created.get_json()
    integration = {**created.get_json(), "subdomain": body["source"]["subdomain"],
                   "tenant": body["provider"]["realm_id"]}
    # And a customer the service creates carries it
    organisation = seed_organisation(sandbox, integration["subdomain"], name="Home Currency Ltd")
    answer = send_webhook(client, integration, organisation["id"], "create")
    event = wait_event(client, admin, answer.get_json()["event_id"])
    assert event["status"] == "succeeded", event
    customer = qb_customer(sandbox, integration, event["outcome"]["contact_id"])
    assert customer["CurrencyRef"]["value"] == "USD"


def test_without_multicurrency_only_the_home_currency_is_taken(client: Any, admin: Any, sandbox: Any) -> None:
    # Given a company at home in GBP with multicurrency off
    home = _company(sandbox, "GBP", home_currency="GBP", multicurrency=False)
    assert client.post("/api/integrations", json=home, headers=admin).status_code == 201
    # When a foreign currency is asked for (one the stand-in's multicurrency companies offer)
    foreign = _company(sandbox, "EUR", home_currency="GBP", multicurrency=False)
    refused = client.post("/api/integrations", json=foreign, headers=admin)
    # Then it is a 400 naming it, and saying why
    assert refused.status_code == 400, refused.get_json()
    reason = refused.get_json()["fields"]["defaults"]["currency"][0]
    assert "'EUR'" in reason and "multicurrency" in reason and "GBP" in reason, reason


def test_a_patch_to_a_foreign_currency_without_multicurrency_is_refused(client: Any, admin: Any, sandbox: Any) -> None:
    body = _company(sandbox, "USD", multicurrency=False)
    created = client.post("/api/integrations", json=body, headers=admin)
    assert created.status_code == 201, created.get_json()
    patched = client.patch(f"/api/integrations/{created.get_json()['id']}", headers=admin,
                           json={"defaults": {"currency": "CAD"}})
    assert patched.status_code == 400, patched.get_json()
    assert "'CAD'" in patched.get_json()["fields"]["defaults"]["currency"][0]


def test_with_multicurrency_a_listed_foreign_currency_is_taken_and_an_unlisted_one_refused(
        client: Any, admin: Any, sandbox: Any) -> None:
    listed = client.post("/api/integrations", json=_company(sandbox, "CAD", multicurrency=True), headers=admin)
    assert listed.status_code == 201, listed.get_json()
    unlisted = client.post("/api/integrations", json=_company(sandbox, "JPY", multicurrency=True), headers=admin)
    assert unlisted.status_code == 400, unlisted.get_json()
    assert "'JPY'" in unlisted.get_json()["fields"]["defaults"]["currency"][0]


def test_the_stand_in_refuses_a_foreign_currency_on_a_company_without_multicurrency(sandbox: Any) -> None:
    """The boundary itself: a create naming a foreign CurrencyRef is refused there too."""
    body = _company(sandbox, "USD", multicurrency=False)
    provider = body["provider"]
    answer = requests.post(f"{provider['api_url']}/company/{provider['realm_id']}/customer", timeout=5,
                           params={"minorversion": "75"},
                           json={"DisplayName": "Foreign Ltd", "CurrencyRef": {"value": "GBP"}},
                           headers={"Authorization": f"Bearer {provider['access_token']}",
                                    "Accept": "application/json"})
    assert answer.status_code == 400, answer.text
    assert "CurrencyRef" in answer.text
