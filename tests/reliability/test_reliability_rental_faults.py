"""Rental-system faults: its 429 (honouring ``Retry-After``) and 5xx are retried; a refused API
key sets the integration to ``reconnect_needed`` and fails its events with that reason."""
from __future__ import annotations

from typing import Any

from core.store import integrations
from tests.reliability.conftest import wait_until
from tests.reliability.reliability_helpers import (
    all_in,
    contact_names,
    events_of,
    fetch_times,
    inject,
    new_organisation,
)
from tests.support import create_integration, send_webhook

RETRY_AFTER = 2


def test_rental_system_429_and_5xx_are_retried_and_a_refused_key_needs_reconnecting(
    client: Any, admin: Any, sandbox: Any, rt: Any, worker_pool: Any, relay: Any,
) -> None:
    # Given two organisations and a worker process
    integration = create_integration(client, admin, sandbox, "xero")
    limited, broken = (new_organisation(sandbox, integration["subdomain"]) for _ in range(2))
    worker_pool.start()

    # When the first one's fetch meets a 429 (Retry-After 2 s)
    inject(sandbox, "current_rms", method="GET", path="/members", status=429,
           headers={"Retry-After": str(RETRY_AFTER)}, body={"errors": ["Too many requests"]})
    first_id = send_webhook(client, integration, limited["id"], "create").get_json()["event_id"]

    # Then it is retried once the Retry-After has passed, and succeeds
    wait_until(lambda: all_in(rt, [first_id], "succeeded"), timeout=30, what="event after 429")
    first, second = fetch_times(sandbox, limited["id"])[:2]
    assert second - first >= RETRY_AFTER - 0.1

    # When the second one's fetch meets two 503s
    inject(sandbox, "current_rms", method="GET", path="/members", status=503, times=2)
    second_id = send_webhook(client, integration, broken["id"], "create").get_json()["event_id"]

    # Then it is retried and succeeds; one contact each
    wait_until(lambda: all_in(rt, [second_id], "succeeded"), timeout=30, what="event after 503s")
    assert len(fetch_times(sandbox, broken["id"])) == 3
    names = contact_names(sandbox, "xero", integration["tenant"])
    assert [names[limited["name"]], names[broken["name"]]] == [1, 1]

    # When the rental system refuses the API key
    inject(sandbox, "current_rms", method="GET", path="/members", status=401, times=1000,
           body={"errors": ["Invalid API key"]})
    refused_member = new_organisation(sandbox, integration["subdomain"])
    refused = send_webhook(client, integration, refused_member["id"], "create").get_json()["event_id"]

    # Then the event fails at once with the reason, and the integration needs reconnecting
    wait_until(lambda: all_in(rt, [refused], "failed"), timeout=20, what="refused event failed")
    event = next(e for e in events_of(rt, integration["id"]) if e.id == refused)
    assert event.attempts == 1
    assert "reconnect" in event.outcome["reason"].lower() or "key" in event.outcome["reason"].lower()
    stored = integrations.get(rt.db, integration["id"])
    assert stored.status == "reconnect_needed"

    # And a later event of that integration fails with the same reason without calling out
    calls_before = len(sandbox.calls("current_rms"))
    later = send_webhook(client, integration, limited["id"]).get_json()["event_id"]
    wait_until(lambda: all_in(rt, [later], "failed"), timeout=20, what="later event failed")
    assert len(sandbox.calls("current_rms")) == calls_before
