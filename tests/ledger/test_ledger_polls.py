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
from tests.support import running_worker, wait_for


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


@pytest.mark.parametrize("write_back", [True, False])
def test_quickbooks_a_hand_edit_older_than_30_days_is_caught_by_the_full_check(
    rt: Any, client: Any, admin: Any, sandbox: Any, worker: Any, write_back: bool,
) -> None:
    # Given a customer linked and then edited by hand 40 days ago (the stand-in's clock moved
    # back for both), whose notification never arrived
    sandbox.control("quickbooks", "clock", shift_seconds=-40 * 86400)
    integration = linked(client, admin, sandbox, "quickbooks", policies={"update_contact_on_edit": write_back})
    customer_id = integration["contact_id"]
    original = qb_customer(sandbox, integration, customer_id)["PrimaryPhone"]
    edited = qb_edit(sandbox, integration, customer_id, {"PrimaryPhone": {"FreeFormNumber": "555 4040"}})
    sandbox.control("quickbooks", "clock", shift_seconds=0)
    assert edited["MetaData"]["LastUpdatedTime"] < (utcnow() - timedelta(days=39)).isoformat()
    # Change Data Capture cannot show it any more: 30 days back is all it looks
    realm = integration["tenant"]
    token = sandbox.control("quickbooks", "tokens", tenant=realm)["access_token"]
    cdc = requests.get(f"{sandbox.quickbooks}/v3/company/{realm}/cdc", timeout=5,
                       headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                       params={"entities": "Customer",
                               "changedSince": (utcnow() - timedelta(days=29)).strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert cdc.status_code == 200 and "Customer" not in cdc.json()["CDCResponse"][0]["QueryResponse"][0]
    # When the ledger poll runs with its last run older than the 30 days
    integrations.merge_settings(rt.db, integration["id"],
                                {"ledger_poll": {"since": (utcnow() - timedelta(days=41)).isoformat()}})
    calls = len(sandbox.calls("quickbooks"))
    poll_now(client, admin, integration)
    event = wait_ledger_event(client, admin, integration, customer_id)
    # Then the full check compared the fields and found the old edit, and it is treated as a
    # hand edit: written back with one write, or reported as drift
    assert event["status"] == "succeeded" and event["payload"]["via"] == "poll", event
    assert event["payload"]["detail"] == {"full_check": ["phone"]}, event
    if write_back:
        assert event["outcome"]["action"] == "updated" and event["outcome"]["fields"] == ["phone"], event
        assert qb_customer(sandbox, integration, customer_id)["PrimaryPhone"] == original
        assert len(qb_writes(sandbox, calls)) == 1
    else:
        assert event["outcome"]["action"] == "none" and event["outcome"]["drift"] == ["phone"], event
        assert qb_writes(sandbox, calls) == []
    # read in a batch (``Id IN``), never by Change Data Capture
    paths = [c for c in sandbox.calls("quickbooks")[calls:]]
    assert not [c for c in paths if c["path"].endswith("/cdc")]
    assert [c for c in paths if c["path"].endswith("/query") and " IN (" in c["query"].get("query", "")], paths
    # And a second full check reports the same old edit no more
    before = len(ledger_events(client, admin, integration))
    integrations.merge_settings(rt.db, integration["id"],
                                {"ledger_poll": {"since": (utcnow() - timedelta(days=41)).isoformat()}})
    poll_now(client, admin, integration)
    wait_for(lambda: (integrations.get(rt.db, integration["id"]).settings or {})["ledger_poll"]["since"]
             > (utcnow() - timedelta(days=1)).isoformat(), what="the second poll")
    assert len(ledger_events(client, admin, integration)) == before
