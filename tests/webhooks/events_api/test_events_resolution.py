"""Resolve, supersede and "needs attention" (interface §6); "retry now" for retrying events."""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from core.store import integrations
from core.store.integrations import NewIntegration
from core.tables import Event, utcnow


def _integration(rt: Any) -> str:
    integration, _ = integrations.create(rt.db, rt.vault, NewIntegration("Acme to Xero", "xero", "acme"))
    return integration.id


def _event(rt: Any, integration_id: str, status: str, *, organisation_id: int = 205101, ago: float = 0.0,
           **values: Any) -> str:
    at = utcnow() - timedelta(seconds=ago)
    with rt.db.session() as session:
        event = Event(integration_id=integration_id, source_event_id=f"a{time.monotonic_ns()}",
                      organisation_id=organisation_id, subject_type="Member", kind="update", status=status,
                      attempts=1, received_at=at, finished_at=at if status in ("failed", "succeeded") else None,
                      last_error="boom" if status == "failed" else None, payload={}, **values)
        session.add(event)
        session.flush()
        return event.id


def _attention(client: Any, admin: Any) -> list[str]:
    answer = client.get("/api/events?needs_attention=true", headers=admin)
    assert answer.status_code == 200
    return [e["id"] for e in answer.get_json()["events"]]


def test_resolving_a_failed_event_takes_it_out_of_needs_attention(rt, client, admin):
    integration_id = _integration(rt)
    failed = _event(rt, integration_id, "failed")
    other = _event(rt, integration_id, "failed", organisation_id=7)
    assert sorted(_attention(client, admin)) == sorted([failed, other])

    answer = client.post(f"/api/events/{failed}/resolve", json={"note": "fixed the account number by hand"}, headers=admin)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["resolved_note"] == "fixed the account number by hand" and body["resolved_at"]
    assert body["status"] == "failed" and body["superseded_by"] is None
    assert _attention(client, admin) == [other]
    # Without a body (the note is optional).
    assert client.post(f"/api/events/{other}/resolve", headers=admin).status_code == 200
    assert _attention(client, admin) == []


def test_resolve_refuses_what_is_not_a_failed_event(rt, client, admin):
    integration_id = _integration(rt)
    succeeded = _event(rt, integration_id, "succeeded")
    failed = _event(rt, integration_id, "failed", organisation_id=9)
    assert client.post(f"/api/events/{succeeded}/resolve", headers=admin).status_code == 409
    assert client.post(f"/api/events/{'0' * 32}/resolve", headers=admin).status_code == 404
    assert client.post(f"/api/events/{failed}/resolve", json={"note": 5}, headers=admin).status_code == 400
    assert client.post(f"/api/events/{failed}/resolve", json={"nope": "x"}, headers=admin).status_code == 400
    assert client.post(f"/api/events/{failed}/resolve", json={"note": "x" * 2001}, headers=admin).status_code == 400
    assert client.get(f"/api/events/{failed}", headers=admin).get_json()["resolved_at"] is None


def test_a_later_success_of_the_organisation_supersedes_a_failure(rt, client, admin):
    integration_id = _integration(rt)
    failed = _event(rt, integration_id, "failed", ago=60)
    earlier_success = _event(rt, integration_id, "succeeded", ago=120)
    assert _attention(client, admin) == [failed]  # a success before it supersedes nothing
    later = _event(rt, integration_id, "succeeded", ago=10)
    shown = client.get(f"/api/events/{failed}", headers=admin).get_json()
    assert shown["superseded_by"] == later != earlier_success
    listed = {e["id"]: e for e in client.get("/api/events", headers=admin).get_json()["events"]}
    assert listed[failed]["superseded_by"] == later and listed[later]["superseded_by"] is None
    assert _attention(client, admin) == []


def test_a_resolved_event_that_fails_again_needs_attention_again(rt, client, admin):
    integration_id = _integration(rt)
    failed = _event(rt, integration_id, "failed")
    client.post(f"/api/events/{failed}/resolve", json={"note": "ok"}, headers=admin)
    with rt.db.session() as session:  # replayed, and failed again after it was resolved
        session.get(Event, failed).finished_at = utcnow() + timedelta(seconds=5)
    assert _attention(client, admin) == [failed]


def test_needs_attention_refuses_other_values(client, admin):
    assert client.get("/api/events?needs_attention=maybe", headers=admin).status_code == 400


def test_retry_now_runs_retrying_events_at_once(rt, client, admin, redis_client):
    integration_id = _integration(rt)
    later = utcnow() + timedelta(hours=1)
    waiting = _event(rt, integration_id, "retrying", next_attempt_at=later)
    _event(rt, integration_id, "retrying", organisation_id=8, next_attempt_at=later, sent_at=utcnow())
    failed = _event(rt, integration_id, "failed", organisation_id=9)

    answer = client.post("/api/events/replay", json={"status": "retrying"}, headers=admin)
    assert answer.status_code == 202 and answer.get_json() == {"replayed": 1}
    shown = client.get(f"/api/events/{waiting}", headers=admin).get_json()
    assert shown["status"] == "retrying" and shown["next_attempt_at"] <= utcnow().isoformat().replace("+00:00", "Z")
    # Handed to the broker now (a message for it waits in the sync queue)...
    assert redis_client.llen("dramatiq:sync") == 1
    # ...and the failed one is not touched by a "retry now".
    assert client.get(f"/api/events/{failed}", headers=admin).get_json()["status"] == "failed"


def test_retry_now_from_the_command_line(rt, app, redis_client):
    integration_id = _integration(rt)
    waiting = _event(rt, integration_id, "retrying", next_attempt_at=utcnow() + timedelta(hours=1))
    result = app.test_cli_runner().invoke(args=["events", "replay", "--status", "retrying", "--yes"])
    assert result.exit_code == 0, result.output
    assert "replayed 1 events" in result.output
    with rt.db.reading() as session:
        assert session.get(Event, waiting).next_attempt_at <= utcnow()
