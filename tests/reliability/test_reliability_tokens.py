"""OAuth tokens under concurrency and faults: one refresh per expiry across worker processes,
the rotated refresh token stored, a lost refresh answer recovered within Xero's grace period
(Sage has none), ``invalid_grant`` failing events with a reason, and the keep-alive refresh."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from core.store import integrations
from tests.reliability.conftest import wait_until
from tests.reliability.reliability_helpers import all_in, events_of, inject, new_organisation
from tests.support import create_integration, send_webhook
from workers.scheduler import keep_alive

TOKEN_PATHS = {"xero": "/connect/token$", "sage": "/token$"}


def stored_tokens(rt: Any, integration_id: str) -> dict[str, Any]:
    return integrations.secrets_of(rt.vault, integrations.get(rt.db, integration_id))


def expire_stored(rt: Any, integration_id: str, *, ago: timedelta = timedelta(seconds=5)) -> None:
    """Our record says the access token expired ``ago``: the next call must refresh."""
    expired = (datetime.now(timezone.utc) - ago).isoformat()
    integrations.merge_secrets(rt.db, rt.vault, integration_id, {"expires_at": expired})


def refreshes(sandbox: Any, kind: str) -> int:
    path = TOKEN_PATHS[kind].rstrip("$")
    return sum(1 for c in sandbox.calls(kind) if c["method"] == "POST" and c["path"].endswith(path))


def send_creates(client: Any, sandbox: Any, integration: dict[str, Any], count: int) -> list[str]:
    members = [new_organisation(sandbox, integration["subdomain"]) for _ in range(count)]
    return [send_webhook(client, integration, m["id"], "create").get_json()["event_id"] for m in members]


def test_xero_tokens_refresh_once_recover_a_lost_answer_keep_alive_and_fail_on_invalid_grant(
    client: Any, admin: Any, sandbox: Any, rt: Any, worker_pool: Any, relay: Any,
) -> None:
    # Given a Xero integration whose access token has expired, and two worker processes
    integration = create_integration(client, admin, sandbox, "xero")
    original = stored_tokens(rt, integration["id"])["refresh_token"]
    expire_stored(rt, integration["id"])
    worker_pool.start(2, threads=4)

    # When 20 jobs find it expired at once
    ids = send_creates(client, sandbox, integration, 20)
    wait_until(lambda: all_in(rt, ids, "succeeded"), timeout=40, what="20 events")

    # Then exactly one refresh was made, and its rotated refresh token is the stored one
    assert refreshes(sandbox, "xero") == 1
    rotated = stored_tokens(rt, integration["id"])["refresh_token"]
    assert rotated != original

    # When the next refresh's answer is lost (applied by Xero, never received)
    expire_stored(rt, integration["id"])
    inject(sandbox, "xero", mode="lost", method="POST", path=TOKEN_PATHS["xero"], times=1)
    ids = send_creates(client, sandbox, integration, 1)

    # Then the retry with the same refresh token is answered within the grace period
    wait_until(lambda: all_in(rt, ids, "succeeded"), timeout=20, what="event after a lost refresh")
    assert refreshes(sandbox, "xero") == 3
    assert stored_tokens(rt, integration["id"])["refresh_token"] not in (original, rotated)
    assert integrations.get(rt.db, integration["id"]).status == "active"

    # When the integration has been idle for weeks, the keep-alive refreshes it
    expire_stored(rt, integration["id"], ago=timedelta(days=15))
    assert keep_alive(rt) == 1
    assert refreshes(sandbox, "xero") == 4
    renewed = datetime.fromisoformat(stored_tokens(rt, integration["id"])["expires_at"])
    assert renewed > datetime.now(timezone.utc)

    # When the grant is revoked and the token has expired
    sandbox.control("xero", "revoke", tenant=integration["tenant"])
    expire_stored(rt, integration["id"])
    ids = send_creates(client, sandbox, integration, 3)

    # Then the events fail at once with the reason, and the integration needs reconnecting
    wait_until(lambda: all_in(rt, ids, "failed"), timeout=20, what="events failed on invalid_grant")
    failed = [e for e in events_of(rt, integration["id"]) if e.id in ids]
    assert all(e.attempts <= 1 for e in failed)
    assert all("reconnect" in e.outcome["reason"] for e in failed), [e.outcome for e in failed]
    assert integrations.get(rt.db, integration["id"]).status == "reconnect_needed"


def test_sage_lost_refresh_answer_needs_reconnecting_at_once(
    client: Any, admin: Any, sandbox: Any, rt: Any, worker_pool: Any, relay: Any,
) -> None:
    # Given a Sage integration whose access token has expired
    integration = create_integration(client, admin, sandbox, "sage")
    expire_stored(rt, integration["id"])
    worker_pool.start()

    # When the refresh's answer is lost (Sage has rotated the refresh token; no grace period)
    inject(sandbox, "sage", mode="lost", method="POST", path=TOKEN_PATHS["sage"], times=1)
    ids = send_creates(client, sandbox, integration, 1)

    # Then the event fails with the reason and the integration needs reconnecting, no retry loop
    wait_until(lambda: all_in(rt, ids, "failed"), timeout=20, what="event failed")
    assert integrations.get(rt.db, integration["id"]).status == "reconnect_needed"
    assert refreshes(sandbox, "sage") == 2
    event = next(e for e in events_of(rt, integration["id"]) if e.id == ids[0])
    assert "reconnect" in event.outcome["reason"]
