"""Helpers of the operator suites (events API, CLI, ops page, browser): recorded events in a
chosen state, and a real refused contact (a Xero account-number clash) to find and fix."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any

from core.store import events
from core.store.events import NewEvent
from core.tables import Event, EventAttempt
from tests.support import create_integration, edit_organisation, seed_organisation, send_webhook, wait_event

_ids = itertools.count(1)
CLASH_NUMBER = "FOT-001"  # the sample organisation's membership number


def make_event(
    rt: Any, integration_id: str, *, status: str = "failed", organisation_id: int | None = 205100,
    received_at: datetime | None = None, reason: str | None = None, error: str | None = None,
    attempts: int = 1,
) -> str:
    """An event recorded as the receiver does, then put in ``status`` with its attempts."""
    number = next(_ids)
    event, _ = events.record(rt.db, NewEvent(
        integration_id=integration_id, source_event_id=f"test:{number}", organisation_id=organisation_id,
        subject_type="Member", kind="update",
        payload={"action": {"id": number, "subject_id": organisation_id, "subject_type": "Member"}},
    ))
    with rt.db.session() as session:
        row = session.get(Event, event.id)
        row.status, row.attempts, row.last_error = status, attempts, error
        row.received_at = received_at or datetime.now(timezone.utc)
        if status in ("succeeded", "skipped", "failed"):
            row.outcome = {"action": None if status != "succeeded" else "updated", "contact_id": None,
                           "overwritten": False, "reason": reason}
            row.finished_at = row.received_at + timedelta(seconds=1)
        for n in range(1, attempts + 1):
            session.add(EventAttempt(event_id=event.id, number=n, status=status if n == attempts else "retrying",
                                     started_at=row.received_at, finished_at=row.finished_at, error=error))
    return event.id


def refused_contact(client: Any, admin: dict[str, str], sandbox: Any) -> dict[str, Any]:
    """A Xero integration whose new organisation's contact is refused: another contact holds
    its account number. Needs a running worker. Returns the integration, member and event."""
    integration = create_integration(client, admin, sandbox, "xero")
    sandbox.control("xero", "contacts", tenant=integration["tenant"],
                    contact={"Name": "Old Festival Ltd", "AccountNumber": CLASH_NUMBER})
    member = seed_organisation(sandbox, integration["subdomain"], name="The Festival Of Testing")
    response = send_webhook(client, integration, member["id"], "create")
    assert response.status_code == 202, response.get_json()
    event = wait_event(client, admin, response.get_json()["event_id"], timeout=40)
    assert event["status"] == "failed", event
    return {"integration": integration, "member": member, "event": event}


def fix_account_number(sandbox: Any, case: dict[str, Any], number: str = "FOT-002") -> None:
    """What the operator does in Current RMS: give the organisation its own account number.
    The edit fires a webhook of its own; tests that replay unregister nothing, so they replay
    the original event and check that one."""
    membership = {**case["member"]["membership"], "number": number}
    edit_organisation(sandbox, case["integration"]["subdomain"], case["member"]["id"], {"membership": membership})
