"""A recreated contact is made exactly as a live create makes one: with the integration's
defaults and custom fields (interface §10 ``recreate``, §11), whether the policy
``on_contact_archived: recreate`` or the ops page's action asks for it. Over HTTP, a real
worker, the sandbox's Xero and QuickBooks."""
from __future__ import annotations

from typing import Any, Callable

import pytest
import requests

from core.store import links
from tests.ledger.support import (
    VERIFIER_TOKEN,
    customer_entity,
    intuit_delivery,
    link_of,
    linked,
    qb_customer,
    qb_delete,
    wait_ledger_event,
    xero_api,
    xero_contact,
    xero_delivery,
)
from tests.support import running_worker
from tests.webhooks.ops.test_ops_page import sign_in

CUSTOM = {"linked_contact": "", "company_no": "12345678"}


@pytest.fixture
def worker(rt: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN", VERIFIER_TOKEN)
    yield from running_worker(rt)


def _xero_gone(client: Any, sandbox: Any, integration: dict[str, Any]) -> None:
    sandbox.control("xero", "archive", tenant=integration["tenant"], contact_id=integration["contact_id"])
    assert xero_delivery(client, integration, [integration["contact_id"]]).status_code == 200


def _qb_gone(client: Any, sandbox: Any, integration: dict[str, Any]) -> None:
    qb_delete(sandbox, integration, integration["contact_id"])
    entity = customer_entity(integration["contact_id"])
    assert intuit_delivery(client, integration["tenant"], [entity]).status_code == 200


def _xero_extras(sandbox: Any, integration: dict[str, Any], contact_id: str) -> tuple[Any, Any]:
    contact = xero_contact(sandbox, integration, contact_id)
    return contact.get("DefaultCurrency"), contact.get("CompanyNumber")


def _qb_extras(sandbox: Any, integration: dict[str, Any], contact_id: str) -> tuple[Any, Any]:
    customer = qb_customer(sandbox, integration, contact_id)
    return (customer.get("SalesTermRef") or {}).get("value"), customer.get("Notes")


#: kind: (defaults, custom-field target, how the linked contact goes, how to read (default,
#: custom field) from a contact, what they read as when created).
CASES: dict[str, tuple[dict[str, Any], str, Callable[..., None], Callable[..., tuple[Any, Any]], tuple[Any, Any]]] = {
    "xero": ({"default_currency": "AUD"}, "CompanyNumber", _xero_gone, _xero_extras, ("AUD", "12345678")),
    "quickbooks": ({"sales_term": "Net 30"}, "Notes", _qb_gone, _qb_extras, ("3", "12345678")),
}


def _integration(client: Any, admin: Any, sandbox: Any, kind: str, policy: str) -> dict[str, Any]:
    defaults, target, *_ = CASES[kind]
    return linked(client, admin, sandbox, kind, policies={"on_contact_archived": policy},
                  defaults=defaults, mapping={"custom_fields": {"company_no": target}},
                  organisation_changes={"custom_fields": CUSTOM})


@pytest.mark.parametrize("kind", sorted(CASES))
def test_the_recreate_policy_creates_with_the_defaults_and_custom_fields(
    client: Any, admin: Any, sandbox: Any, worker: Any, kind: str,
) -> None:
    _, _, gone, extras_of, created = CASES[kind]
    integration = _integration(client, admin, sandbox, kind, "recreate")
    old = integration["contact_id"]
    # When the linked contact is archived (Xero) or deleted (QuickBooks) there
    gone(client, sandbox, integration)
    event = wait_ledger_event(client, admin, integration, old)
    # Then a fresh contact is linked, carrying the default and the custom field
    assert event["status"] == "succeeded" and event["outcome"]["action"] == "created", event
    new = link_of(client, admin, integration)["contact_id"]
    assert new != old and event["outcome"]["contact_id"] == new
    assert extras_of(sandbox, integration, new) == created


def test_the_ops_pages_recreate_creates_with_the_defaults_and_custom_fields(
    client: Any, admin: Any, sandbox: Any, worker: Any,
) -> None:
    integration = _integration(client, admin, sandbox, "xero", "flag")
    old, org = integration["contact_id"], integration["organisation"]["id"]
    _xero_gone(client, sandbox, integration)
    assert wait_ledger_event(client, admin, integration, old)["outcome"]["action"] == "broken"
    # When the operator presses "recreate" on the broken link
    csrf = sign_in(client)
    answer = client.post(f"/ops/integrations/{integration['id']}/links/{org}/recreate", data={"csrf_token": csrf})
    assert answer.status_code == 302
    event = wait_ledger_event(client, admin, integration, old, after=1)
    # Then the new contact carries the default and the custom field, as a live create's would
    assert event["outcome"]["action"] == "created", event
    new = link_of(client, admin, integration)["contact_id"]
    assert new != old and _xero_extras(sandbox, integration, new) == ("AUD", "12345678")


def test_a_recreate_refused_for_a_name_clash_leaves_no_create_marker(
    client: Any, admin: Any, sandbox: Any, worker: Any, rt: Any,
) -> None:
    """Regression (issue 12, finding 3, in the ledger's path): the recreate wrote a name-only
    marker and kept it when Xero refused the name, so a later sync could take the contact that
    clashed for "the one it created" and adopt a stranger's contact."""
    integration = _integration(client, admin, sandbox, "xero", "recreate")
    old, organisation = integration["contact_id"], integration["organisation"]
    sandbox.control("xero", "archive", tenant=integration["tenant"], contact_id=old)
    # Given someone made another active contact of the organisation's name meanwhile
    base, headers = xero_api(sandbox, integration)
    answer = requests.put(f"{base}/Contacts", json={"Contacts": [{"Name": organisation["name"]}]},
                          headers=headers, timeout=5)
    assert answer.status_code == 200, answer.text
    # When the archive is delivered and the recreate is refused for the name
    assert xero_delivery(client, integration, [old]).status_code == 200
    event = wait_ledger_event(client, admin, integration, old)
    assert event["status"] == "failed" and "could not be recreated" in event["outcome"]["reason"], event
    # Then no marker claims a create was sent: nothing of this integration's was made
    assert links.marker(rt.db, integration["id"], organisation["id"]) is None
