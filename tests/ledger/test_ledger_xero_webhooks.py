"""Xero's own deliveries: the sandbox's Xero sends its signed webhooks (with Xero's retries and
intent-to-receive check) to the service served on a real port; a real worker follows a merge."""
from __future__ import annotations

from typing import Any

import pytest

from sandbox.runner import ServerThread
from tests.ledger.support import WEBHOOK_KEY, link_of, linked, wait_ledger_event, xero_contact
from tests.support import running_worker, wait_for


@pytest.fixture
def served(app: Any) -> Any:
    with ServerThread(app) as server:
        yield server.url


@pytest.fixture
def worker(rt: Any) -> Any:
    yield from running_worker(rt)


def subscribe(sandbox: Any, url: str, integration: dict[str, Any], key: str = WEBHOOK_KEY) -> dict[str, Any]:
    return sandbox.control("xero", "webhooks", url=f"{url}/webhooks/xero/{integration['id']}", key=key,
                           tenant=integration["tenant"])


def test_xero_intent_to_receive_passes(client: Any, admin: Any, sandbox: Any, served: str, worker: Any) -> None:
    integration = linked(client, admin, sandbox, "xero")
    subscription = subscribe(sandbox, served, integration)
    check = sandbox.control("xero", f"webhooks/{subscription['id']}/intent")
    assert check == {"good_signature": 200, "bad_signature": 401, "ok": True}


def test_a_merge_in_xero_is_followed_from_its_own_webhook(
    client: Any, admin: Any, sandbox: Any, served: str, worker: Any,
) -> None:
    integration = linked(client, admin, sandbox, "xero")
    subscribe(sandbox, served, integration)
    loser, org = integration["contact_id"], integration["organisation"]
    survivor = sandbox.control("xero", "contacts", tenant=integration["tenant"],
                               contact={"Name": "The Survivor Ltd"})["ContactID"]
    # When a person merges the linked contact into another in Xero
    sandbox.control("xero", "merge", tenant=integration["tenant"], **{"from": loser, "into": survivor})
    # Then, from Xero's own signed delivery, the link follows, the survivor gets the fields
    event = wait_ledger_event(client, admin, integration, loser)
    assert event["outcome"]["action"] == "relinked", event
    assert link_of(client, admin, integration)["contact_id"] == survivor
    assert wait_for(lambda: xero_contact(sandbox, integration, survivor)["Name"] == org["name"])
    # And every delivery was answered 200 at its first attempt
    deliveries = sandbox.get("xero", "webhooks")["deliveries"]
    assert deliveries and all(d["state"] == "delivered" for d in deliveries), deliveries


def test_a_delivery_under_another_key_is_refused(client: Any, admin: Any, sandbox: Any, served: str, worker: Any) -> None:
    integration = linked(client, admin, sandbox, "xero")
    subscribe(sandbox, served, integration, key="a-key-we-do-not-hold")
    sandbox.control("xero", "archive", tenant=integration["tenant"], contact_id=integration["contact_id"])
    wait_for(lambda: any(d["attempts"] for d in sandbox.get("xero", "webhooks")["deliveries"]))
    attempts = [a for d in sandbox.get("xero", "webhooks")["deliveries"] for a in d["attempts"]]
    assert attempts and all(a.get("answer") == 401 for a in attempts), attempts
    events = client.get(f"/api/events?integration={integration['id']}", headers=admin).get_json()["events"]
    assert [e for e in events if e["kind"] == "contact_changed"] == []
