"""The ledger poll against the stand-ins' changed-since queries: QuickBooks Change Data Capture
(and the full check past its 30 days), Sage ``updated_or_created_since`` and ``deleted_since``."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests

from core.store import integrations
from core.tables import utcnow
from tests.ledger.support import (
    ledger_events,
    link_of,
    linked,
    poll_now,
    qb_customer,
    qb_edit,
    qb_writes,
    wait_ledger_event,
)
from tests.support import running_worker


@pytest.fixture
def worker(rt: Any) -> Any:
    yield from running_worker(rt)


def test_quickbooks_a_lost_notification_is_caught_by_change_data_capture(
    client: Any, admin: Any, sandbox: Any, worker: Any,
) -> None:
    integration = linked(client, admin, sandbox, "quickbooks")
    customer_id = integration["contact_id"]
    original = qb_customer(sandbox, integration, customer_id)["PrimaryPhone"]
    qb_edit(sandbox, integration, customer_id, {"PrimaryPhone": {"FreeFormNumber": "555 1234"}})
    calls = len(sandbox.calls("quickbooks"))
    poll_now(client, admin, integration)
    event = wait_ledger_event(client, admin, integration, customer_id)
    assert event["payload"]["via"] == "poll" and event["outcome"]["action"] == "updated", event
    assert qb_customer(sandbox, integration, customer_id)["PrimaryPhone"] == original
    assert len(qb_writes(sandbox, calls)) == 1
    cdc = [c for c in sandbox.calls("quickbooks")[calls:] if c["path"].endswith("/cdc")]
    assert cdc and cdc[0]["query"]["entities"] == "Customer"


def test_quickbooks_a_delete_in_change_data_capture_flags_the_link(
    client: Any, admin: Any, sandbox: Any, worker: Any,
) -> None:
    integration = linked(client, admin, sandbox, "quickbooks")
    customer_id = integration["contact_id"]
    sandbox.control("quickbooks", "delete", tenant=integration["tenant"], contact_id=customer_id)
    poll_now(client, admin, integration)
    event = wait_ledger_event(client, admin, integration, customer_id)
    assert event["outcome"]["action"] == "broken", event
    assert link_of(client, admin, integration)["status"] == "broken"


def test_quickbooks_past_30_days_the_poll_checks_every_link(
    rt: Any, client: Any, admin: Any, sandbox: Any, worker: Any,
) -> None:
    integration = linked(client, admin, sandbox, "quickbooks")
    customer_id = integration["contact_id"]
    # Given the last poll is older than Change Data Capture's 30 days
    old = (utcnow() - timedelta(days=40)).isoformat()
    integrations.merge_settings(rt.db, integration["id"], {"ledger_poll": {"since": old}})
    sandbox.control("quickbooks", "delete", tenant=integration["tenant"], contact_id=customer_id)
    calls = len(sandbox.calls("quickbooks"))
    poll_now(client, admin, integration)
    event = wait_ledger_event(client, admin, integration, customer_id)
    # Then the linked customers were read (no CDC call), and the deletion found
    assert event["outcome"]["action"] == "broken", event
    paths = [c["path"] for c in sandbox.calls("quickbooks")[calls:]]
    assert not [p for p in paths if p.endswith("/cdc")] and [p for p in paths if p.endswith("/query")]


def test_sage_a_deleted_contact_is_caught_by_the_poll(client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    integration = linked(client, admin, sandbox, "sage")
    contact_id = integration["contact_id"]
    answer = requests.post(f"{sandbox.sage}/_sandbox/delete", json={"contact_id": contact_id}, timeout=5)
    assert answer.status_code == 200
    poll_now(client, admin, integration)
    event = wait_ledger_event(client, admin, integration, contact_id)
    assert event["outcome"]["action"] == "broken" and event["payload"]["operation"] == "delete", event
    assert link_of(client, admin, integration)["status"] == "broken"
    # A second poll does not report it again
    poll_now(client, admin, integration)
    assert len([e for e in ledger_events(client, admin, integration) if e["payload"]["contact_id"] == contact_id]) == 1
