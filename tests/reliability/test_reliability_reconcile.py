"""Reconciliation (interface §5): the periodic poll catches organisations whose webhooks never
arrived (or were refused with 503), and is idempotent with the webhook path."""
from __future__ import annotations

from typing import Any

from tests.reliability.conftest import wait_until
from tests.reliability.reliability_helpers import (
    all_in,
    contact_names,
    events_of,
    new_organisation,
    writes,
)
from tests.support import create_integration, send_webhook
from workers.scheduler import reconcile_all


def owed_or_running(rt: Any, integration_id: str) -> list[str]:
    return [e.id for e in events_of(rt, integration_id) if e.status not in ("succeeded", "skipped", "failed")]


def test_poll_catches_undelivered_organisations_once_and_agrees_with_late_webhooks(
    client: Any, admin: Any, sandbox: Any, rt: Any, worker_pool: Any, relay: Any,
) -> None:
    # Given two organisations whose webhooks never arrived (one lost, one refused with 503)
    integration = create_integration(client, admin, sandbox, "xero")
    lost, refused = (new_organisation(sandbox, integration["subdomain"]) for _ in range(2))
    worker_pool.start()

    # When the periodic poll runs
    assert reconcile_all(rt) >= 1
    wait_until(lambda: len(events_of(rt, integration["id"])) >= 2 and not owed_or_running(rt, integration["id"]),
               timeout=30, what="poll events processed")

    # Then each organisation has one contact, from events that succeeded
    polled = events_of(rt, integration["id"])
    assert sorted(e.organisation_id for e in polled) == sorted([lost["id"], refused["id"]])
    assert {e.status for e in polled} == {"succeeded"}
    names = contact_names(sandbox, "xero", integration["tenant"])
    assert [names[lost["name"]], names[refused["name"]]] == [1, 1]
    writes_after_poll = len(writes(sandbox, "xero", "/Contacts"))

    # When the poll runs again and the late webhook of one of them arrives after all
    reconcile_all(rt)
    late = send_webhook(client, integration, lost["id"], "create").get_json()["event_id"]
    wait_until(lambda: all_in(rt, [late], "succeeded"), timeout=20, what="late webhook")
    wait_until(lambda: not owed_or_running(rt, integration["id"]), timeout=20, what="all settled")

    # Then nothing is created or written twice
    assert len(events_of(rt, integration["id"])) == 3  # the repeat poll recorded nothing new
    names = contact_names(sandbox, "xero", integration["tenant"])
    assert [names[lost["name"]], names[refused["name"]]] == [1, 1]
    assert len(writes(sandbox, "xero", "/Contacts")) == writes_after_poll
    late_event = next(e for e in events_of(rt, integration["id"]) if e.id == late)
    assert late_event.outcome["action"] == "none"
