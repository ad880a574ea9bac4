"""QuickBooks Online's side over HTTP on real parts: signed Intuit notifications → events → a
real worker → effects. The QuickBooks stand-in of this branch does not send webhooks yet: each
test signs the notification Intuit would send (``intuit-signature``) and posts it."""
from __future__ import annotations

from typing import Any

import pytest

from core.integration_settings import IntegrationSettings
from core.store import integrations
from tests.ledger.support import (
    VERIFIER_TOKEN,
    customer_entity,
    intuit_delivery,
    ledger_events,
    link_of,
    linked,
    qb_customer,
    qb_delete,
    qb_edit,
    qb_writes,
    wait_ledger_event,
)
from tests.support import running_worker, wait_for
from workers.ledger_poll import STATE_KEY


@pytest.fixture
def worker(rt: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN", VERIFIER_TOKEN)
    yield from running_worker(rt)


def test_a_bad_signature_is_refused_and_nothing_is_stored(client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    integration = linked(client, admin, sandbox, "quickbooks")
    before = client.get(f"/api/events?integration={integration['id']}", headers=admin).get_json()["events"]
    entity = customer_entity(integration["contact_id"])
    assert intuit_delivery(client, integration["tenant"], [entity], token="wrong").status_code == 401
    assert client.post("/webhooks/quickbooks", json={"eventNotifications": []}).status_code == 401
    after = client.get(f"/api/events?integration={integration['id']}", headers=admin).get_json()["events"]
    assert len(after) == len(before)


def test_a_hand_edit_is_written_back_once_and_the_echo_costs_no_write(
    client: Any, admin: Any, sandbox: Any, worker: Any,
) -> None:
    integration = linked(client, admin, sandbox, "quickbooks")
    customer_id = integration["contact_id"]
    original = qb_customer(sandbox, integration, customer_id)["PrimaryPhone"]
    calls = len(sandbox.calls("quickbooks"))
    edited = qb_edit(sandbox, integration, customer_id, {"PrimaryPhone": {"FreeFormNumber": "555 0000"}})
    stamp = edited["MetaData"]["LastUpdatedTime"]
    answer = intuit_delivery(client, integration["tenant"], [customer_entity(customer_id, last_updated=stamp)])
    assert answer.status_code == 200
    event = wait_ledger_event(client, admin, integration, customer_id)
    assert event["status"] == "succeeded", event
    assert event["outcome"]["action"] == "updated" and event["outcome"]["fields"] == ["phone"]
    assert qb_customer(sandbox, integration, customer_id)["PrimaryPhone"] == original
    assert len(qb_writes(sandbox, calls)) == 1
    # The notification of our own write: nothing to write
    calls = len(sandbox.calls("quickbooks"))
    ours = qb_customer(sandbox, integration, customer_id)["MetaData"]["LastUpdatedTime"]
    intuit_delivery(client, integration["tenant"], [customer_entity(customer_id, last_updated=ours)])
    echo = wait_ledger_event(client, admin, integration, customer_id, after=1)
    assert echo["outcome"]["action"] == "none" and "drift" not in echo["outcome"], echo
    assert qb_writes(sandbox, calls) == []
    # And the same notification again (Intuit retries) is the same event
    intuit_delivery(client, integration["tenant"], [customer_entity(customer_id, last_updated=ours)])
    mine = [e for e in client.get(f"/api/events?integration={integration['id']}", headers=admin).get_json()["events"]
            if e["kind"] == "contact_changed" and e["payload"]["contact_id"] == customer_id]
    assert len(mine) == 2


def test_a_hand_edit_is_drift_when_the_policy_is_off(client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    integration = linked(client, admin, sandbox, "quickbooks", policies={"update_contact_on_edit": False})
    customer_id = integration["contact_id"]
    calls = len(sandbox.calls("quickbooks"))
    qb_edit(sandbox, integration, customer_id, {"PrimaryEmailAddr": {"Address": "drift@example.test"}})
    intuit_delivery(client, integration["tenant"], [customer_entity(customer_id)])
    event = wait_ledger_event(client, admin, integration, customer_id)
    assert event["outcome"]["action"] == "none" and event["outcome"]["drift"] == ["email"], event
    assert qb_writes(sandbox, calls) == []


def test_a_merge_with_deleted_id_is_followed(client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    integration = linked(client, admin, sandbox, "quickbooks")
    loser, org = integration["contact_id"], integration["organisation"]
    survivor = sandbox.control("quickbooks", "contacts", tenant=integration["tenant"],
                               DisplayName="Survivor Customer")["Customer"]
    # QuickBooks merges by deleting the loser
    qb_delete(sandbox, integration, loser)
    entity = customer_entity(str(survivor["Id"]), "Merge", deleted_id=loser)
    assert intuit_delivery(client, integration["tenant"], [entity]).status_code == 200
    event = wait_ledger_event(client, admin, integration, loser)
    assert event["status"] == "succeeded", event
    assert event["outcome"]["action"] == "relinked"
    assert event["outcome"]["previous_contact_id"] == loser
    assert link_of(client, admin, integration)["contact_id"] == str(survivor["Id"])
    assert qb_customer(sandbox, integration, survivor["Id"])["DisplayName"] == org["name"]


@pytest.mark.parametrize("policy", ["flag", "reactivate", "recreate"])
def test_a_delete_by_each_policy(client: Any, admin: Any, sandbox: Any, worker: Any, policy: str) -> None:
    integration = linked(client, admin, sandbox, "quickbooks", policies={"on_contact_archived": policy})
    customer_id = integration["contact_id"]
    # A QuickBooks "delete" makes the customer inactive
    qb_delete(sandbox, integration, customer_id)
    intuit_delivery(client, integration["tenant"], [customer_entity(customer_id, "Delete")])
    event = wait_ledger_event(client, admin, integration, customer_id)
    link = link_of(client, admin, integration)
    if policy == "flag":
        assert event["outcome"]["action"] == "broken", event
        assert link["status"] == "broken" and link["broken_reason"]
    elif policy == "reactivate":
        assert event["outcome"]["action"] == "updated", event
        restored = qb_customer(sandbox, integration, customer_id)
        assert restored["Active"] is True and restored["DisplayName"] == integration["organisation"]["name"]
        assert link["status"] == "ok"
    else:
        assert event["status"] == "succeeded", event
        assert event["outcome"]["action"] == "created"
        assert link["contact_id"] != customer_id and link["status"] == "ok"


def test_change_data_captures_sight_of_our_own_write_records_nothing(
    client: Any, admin: Any, sandbox: Any, worker: Any, rt: Any,
) -> None:
    """The poll lists customers in full (Change Data Capture): one listed exactly as our last
    write sent it is that write's echo, neither an event nor a read; a hand edit still is one."""
    integration = linked(client, admin, sandbox, "quickbooks")
    contact_id = integration["contact_id"]
    before, last_run = len(ledger_events(client, admin, integration)), _last_poll(rt, integration)
    calls = len(sandbox.calls("quickbooks"))
    answer = client.post(f"/api/integrations/{integration['id']}/ledger-poll", headers=admin)
    assert answer.status_code == 202
    wait_for(lambda: _last_poll(rt, integration) != last_run, what="the poll to finish")
    assert [c for c in sandbox.calls("quickbooks")[calls:] if c["path"].endswith("/cdc")]
    assert len(ledger_events(client, admin, integration)) == before
    assert qb_writes(sandbox, calls) == []
    # A hand edit listed by the next poll is an event, written back once
    qb_edit(sandbox, integration, contact_id, {"DisplayName": "Renamed By Hand"})
    calls = len(sandbox.calls("quickbooks"))
    assert client.post(f"/api/integrations/{integration['id']}/ledger-poll", headers=admin).status_code == 202
    event = wait_ledger_event(client, admin, integration, contact_id)
    assert event["outcome"]["action"] == "updated" and len(qb_writes(sandbox, calls)) == 1


def _last_poll(rt: Any, integration: dict[str, Any]) -> str | None:
    """When the ledger poll last finished (its state, stored at its end)."""
    stored = integrations.get(rt.db, integration["id"])
    assert stored is not None
    return IntegrationSettings.of(stored).state_of(STATE_KEY).get("last_run")
