"""Replay through the API (interface §6): one event, all failed matching a filter, never twice;
and the incident end to end: refused, fixed at the source, replayed, succeeded."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from core.store import events
from tests.support import RunningWorker, create_integration, wait_event
from tests.webhooks.ops_support import fix_account_number, make_event, refused_contact
from workers.broker import SYNC_QUEUE

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def waiting(rt: Any) -> int:
    return rt.redis.llen(f"dramatiq:{SYNC_QUEUE}")


@pytest.fixture
def integration(client: Any, admin: Any, sandbox: Any) -> dict[str, Any]:
    return create_integration(client, admin, sandbox, "xero")


def test_replay_one_failed_event_queues_it_as_a_forced_write(client: Any, admin: Any, rt: Any, integration: Any) -> None:
    # Given a failed event
    event_id = make_event(rt, integration["id"], status="failed", reason="refused")

    # When it is replayed
    response = client.post(f"/api/events/{event_id}/replay", headers=admin)

    # Then it is queued again, will write the contact even if nothing changed, and one message is out
    assert response.status_code == 202
    assert response.get_json() == {"event_id": event_id, "status": "queued"}
    row = events.get(rt.db, event_id)
    assert (row.status, row.force_write, row.finished_at) == ("queued", True, None)
    assert waiting(rt) == 1


@pytest.mark.parametrize("status", ["queued", "processing"])
def test_replay_of_an_owed_event_does_not_run_it_twice(client: Any, admin: Any, rt: Any, integration: Any, status: str) -> None:
    # Given an event already queued (or being processed)
    event_id = make_event(rt, integration["id"], status=status)

    # When it is replayed, twice
    answers = [client.post(f"/api/events/{event_id}/replay", headers=admin) for _ in range(2)]

    # Then the answer gives its current status and no message is sent
    assert [(a.status_code, a.get_json()["status"]) for a in answers] == [(202, status)] * 2
    assert waiting(rt) == 0
    assert events.get(rt.db, event_id).force_write is False


def test_replay_twice_in_a_row_sends_one_message(client: Any, admin: Any, rt: Any, integration: Any) -> None:
    event_id = make_event(rt, integration["id"], status="failed")
    first = client.post(f"/api/events/{event_id}/replay", headers=admin).get_json()
    second = client.post(f"/api/events/{event_id}/replay", headers=admin).get_json()
    assert (first["status"], second["status"]) == ("queued", "queued")
    assert waiting(rt) == 1


def test_replay_unknown_event_is_404(client: Any, admin: Any, rt: Any) -> None:
    assert client.post("/api/events/nope/replay", headers=admin).status_code == 404


def test_replay_all_failed_matching_integration_and_since(client: Any, admin: Any, rt: Any, sandbox: Any, integration: Any) -> None:
    # Given failed events of two integrations, old and new, and events in other statuses
    other = create_integration(client, admin, sandbox, "sage")
    old = make_event(rt, integration["id"], status="failed", received_at=T0)
    new = [make_event(rt, integration["id"], status="failed", received_at=T0 + timedelta(hours=h)) for h in (1, 2)]
    elsewhere = make_event(rt, other["id"], status="failed", received_at=T0 + timedelta(hours=1))
    fine = make_event(rt, integration["id"], status="succeeded", received_at=T0 + timedelta(hours=1))
    owed = make_event(rt, integration["id"], status="queued", received_at=T0 + timedelta(hours=1))

    # When every failed event of the first integration since T0+1h is replayed
    body = {"integration": integration["id"], "since": (T0 + timedelta(minutes=30)).isoformat()}
    response = client.post("/api/events/replay", json=body, headers=admin)

    # Then exactly those two are queued again
    assert response.status_code == 202
    assert response.get_json() == {"replayed": 2}
    status = {e: events.get(rt.db, e).status for e in [old, *new, elsewhere, fine, owed]}
    assert status == {old: "failed", new[0]: "queued", new[1]: "queued", elsewhere: "failed",
                      fine: "succeeded", owed: "queued"}
    assert waiting(rt) == 2

    # When the same is asked again, nothing is failed any more: nothing is replayed
    assert client.post("/api/events/replay", json=body, headers=admin).get_json() == {"replayed": 0}
    # And with no filter at all, every remaining failed event is (status defaults to failed)
    assert client.post("/api/events/replay", json={}, headers=admin).get_json() == {"replayed": 2}


@pytest.mark.parametrize("body, field", [
    ({"status": "queued"}, "status"), ({"since": "yesterday"}, "since"), ({"since": "2026-03-01T00:00:00"}, "since"),
    ({"colour": "red"}, "colour"), ({"integration": ""}, "integration"),
])
def test_replay_many_refuses_a_bad_filter(client: Any, admin: Any, rt: Any, body: dict[str, Any], field: str) -> None:
    response = client.post("/api/events/replay", json=body, headers=admin)
    assert response.status_code == 400
    assert field in response.get_json()["fields"]


def test_incident_refused_contact_fixed_and_replayed_through_the_api(client: Any, admin: Any, rt: Any, sandbox: Any) -> None:
    with RunningWorker(rt):
        # Given a contact refused by Xero: its account number is another contact's
        case = refused_contact(client, admin, sandbox)
        event_id = case["event"]["id"]
        failed = client.get(f"/api/events?status=failed&integration={case['integration']['id']}", headers=admin)
        assert [e["id"] for e in failed.get_json()["events"]] == [event_id]
        assert "account number" in case["event"]["outcome"]["reason"]
        assert "Account Number already exists" in case["event"]["last_error"]

        # When the operator fixes the organisation in Current RMS and replays the event
        fix_account_number(sandbox, case)
        answer = client.post(f"/api/events/{event_id}/replay", headers=admin)
        event = wait_event(client, admin, event_id, timeout=40)

    # Then the same event succeeded on a second attempt, with the fixed state
    assert answer.status_code == 202
    assert event["status"] == "succeeded", event
    assert event["outcome"]["action"] == "created"
    assert [(a["number"], a["status"]) for a in event["attempt_history"]] == [(1, "failed"), (2, "succeeded")]
    assert event["last_error"] is None
    contacts = sandbox.get("xero", "contacts", tenant=case["integration"]["tenant"])["Contacts"]
    created = next(c for c in contacts if c["ContactID"] == event["outcome"]["contact_id"])
    assert (created["Name"], created["AccountNumber"]) == ("The Festival Of Testing", "FOT-002")


def test_replay_of_a_succeeded_event_writes_the_contact_again(client: Any, admin: Any, rt: Any, sandbox: Any) -> None:
    with RunningWorker(rt):
        # Given an organisation synced once: a second sync with no change writes nothing
        case = refused_contact(client, admin, sandbox)
        fix_account_number(sandbox, case)
        client.post(f"/api/events/{case['event']['id']}/replay", headers=admin)
        wait_event(client, admin, case["event"]["id"], "succeeded", timeout=40)
        writes = sandbox.get("xero", "stats")["writes"]

        # When the succeeded event is replayed
        client.post(f"/api/events/{case['event']['id']}/replay", headers=admin)
        event = wait_event(client, admin, case["event"]["id"], "succeeded", "failed", timeout=40)
        wait_event(client, admin, case["event"]["id"], "succeeded", timeout=40)

    # Then it ran as a third attempt and wrote the contact although nothing changed
    assert len(event["attempt_history"]) == 3
    assert event["outcome"]["action"] == "updated"
    assert sandbox.get("xero", "stats")["writes"] == writes + 1
