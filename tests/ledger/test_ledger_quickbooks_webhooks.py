"""Intuit's own notifications: the QuickBooks stand-in signs and sends them (with Intuit's
retry ladder) to the service served on a real port; a real worker follows a merge."""
from __future__ import annotations

from typing import Any

import pytest

from sandbox.runner import ServerThread
from tests.ledger.support import VERIFIER_TOKEN, link_of, linked, qb_customer, wait_ledger_event
from tests.support import running_worker, wait_for


@pytest.fixture
def served(app: Any) -> Any:
    with ServerThread(app) as server:
        yield server.url


@pytest.fixture
def worker(rt: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN", VERIFIER_TOKEN)
    yield from running_worker(rt)


def test_a_merge_in_quickbooks_is_followed_from_its_own_notification(
    client: Any, admin: Any, sandbox: Any, served: str, worker: Any,
) -> None:
    integration = linked(client, admin, sandbox, "quickbooks")
    sandbox.control("quickbooks", "webhooks", url=f"{served}/webhooks/quickbooks",
                    verifier_token=VERIFIER_TOKEN, realm=integration["tenant"])
    loser, org = integration["contact_id"], integration["organisation"]
    survivor = str(sandbox.control("quickbooks", "contacts", tenant=integration["tenant"],
                                   DisplayName="QB Survivor")["Customer"]["Id"])
    sandbox.control("quickbooks", "merge", tenant=integration["tenant"], **{"from": loser, "into": survivor})
    event = wait_ledger_event(client, admin, integration, loser)
    assert event["outcome"]["action"] == "relinked" and event["outcome"]["previous_contact_id"] == loser, event
    assert link_of(client, admin, integration)["contact_id"] == survivor
    assert wait_for(lambda: qb_customer(sandbox, integration, survivor)["DisplayName"] == org["name"])
    deliveries = sandbox.get("quickbooks", "webhooks")["deliveries"]
    assert deliveries and all(d["state"] == "delivered" for d in deliveries), deliveries


def test_a_wrongly_signed_notification_is_refused(client: Any, admin: Any, sandbox: Any, served: str, worker: Any) -> None:
    integration = linked(client, admin, sandbox, "quickbooks")
    sandbox.control("quickbooks", "webhooks", url=f"{served}/webhooks/quickbooks",
                    verifier_token="not-our-token", realm=integration["tenant"])
    sandbox.control("quickbooks", "delete", tenant=integration["tenant"], contact_id=integration["contact_id"])
    wait_for(lambda: any(d["attempts"] for d in sandbox.get("quickbooks", "webhooks")["deliveries"]))
    attempts = [a for d in sandbox.get("quickbooks", "webhooks")["deliveries"] for a in d["attempts"]]
    assert attempts and all(a.get("answer") == 401 for a in attempts), attempts
    events = client.get(f"/api/events?integration={integration['id']}", headers=admin).get_json()["events"]
    assert [e for e in events if e["kind"] == "contact_changed"] == []
