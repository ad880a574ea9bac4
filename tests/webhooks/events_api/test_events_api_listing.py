"""``GET /api/events`` and ``GET /api/events/<id>`` (interface §6): filters, order, cursor
paging, bounds, and the shape of one event."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.support import create_integration
from tests.webhooks.ops_support import make_event

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def two(client: Any, admin: Any, sandbox: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    return create_integration(client, admin, sandbox, "xero"), create_integration(client, admin, sandbox, "sage")


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [event["id"] for event in response.get_json()["events"]]


def test_filters_by_integration_status_organisation_and_time(client: Any, admin: Any, rt: Any, two: Any) -> None:
    # Given events of two integrations, in several statuses, organisations and times
    a, b = two
    old_failed = make_event(rt, a["id"], status="failed", organisation_id=7, received_at=T0)
    new_failed = make_event(rt, a["id"], status="failed", organisation_id=8, received_at=T0 + timedelta(hours=2))
    succeeded = make_event(rt, a["id"], status="succeeded", organisation_id=7, received_at=T0 + timedelta(hours=1))
    other = make_event(rt, b["id"], status="failed", organisation_id=7, received_at=T0 + timedelta(hours=3))

    # Then each filter narrows the list, newest first
    assert ids(client.get("/api/events", headers=admin)) == [other, new_failed, succeeded, old_failed]
    assert ids(client.get(f"/api/events?integration={a['id']}", headers=admin)) == [new_failed, succeeded, old_failed]
    assert ids(client.get("/api/events?status=failed", headers=admin)) == [other, new_failed, old_failed]
    assert ids(client.get("/api/events?organisation_id=7", headers=admin)) == [other, succeeded, old_failed]
    assert ids(client.get(f"/api/events?integration={a['id']}&status=failed&organisation_id=7", headers=admin)) == [old_failed]
    since = (T0 + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    until = (T0 + timedelta(hours=2)).isoformat()
    assert ids(client.get("/api/events", query_string={"since": since}, headers=admin)) == [other, new_failed, succeeded]
    assert ids(client.get("/api/events", query_string={"since": since, "until": until}, headers=admin)) == [new_failed, succeeded]


def test_cursor_pages_through_everything_once_even_with_equal_times(client: Any, admin: Any, rt: Any, two: Any) -> None:
    # Given 7 events, four of them received at the very same instant
    a, _ = two
    made = [make_event(rt, a["id"], received_at=T0) for _ in range(4)]
    made += [make_event(rt, a["id"], received_at=T0 + timedelta(minutes=m)) for m in (1, 2, 3)]

    # When paging three at a time
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/events", query_string=query, headers=admin).get_json()
        seen += [event["id"] for event in body["events"]]
        pages, cursor = pages + 1, body["next_cursor"]
        if cursor is None:
            break

    # Then every event comes exactly once, in (received_at, id) descending order, in 3 pages
    assert pages == 3
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))
    assert seen[:3] == made[4:][::-1]
    assert seen[3:] == sorted(made[:4], reverse=True)


def test_default_and_largest_limit(client: Any, admin: Any, rt: Any, two: Any) -> None:
    a, _ = two
    for _ in range(51):
        make_event(rt, a["id"])
    first = client.get("/api/events", headers=admin).get_json()
    assert len(first["events"]) == 50 and first["next_cursor"]
    assert len(client.get("/api/events?limit=500", headers=admin).get_json()["events"]) == 51
    assert client.get("/api/events?limit=500", headers=admin).get_json()["next_cursor"] is None


@pytest.mark.parametrize("query, field", [
    ("limit=0", "limit"), ("limit=501", "limit"), ("limit=abc", "limit"), ("status=done", "status"),
    ("organisation_id=-3", "organisation_id"), ("organisation_id=12345678901234567890", "organisation_id"),
    ("since=yesterday", "since"), ("since=2026-03-01T12:00:00", "since"), ("until=2026-13-01T00:00Z", "until"),
    ("cursor=not-a-cursor", "cursor"),
])
def test_bad_query_is_400_naming_the_field(client: Any, admin: Any, rt: Any, query: str, field: str) -> None:
    response = client.get(f"/api/events?{query}", headers=admin)
    assert response.status_code == 400
    assert field in response.get_json()["fields"]


def test_unknown_integration_filter_is_an_empty_list(client: Any, admin: Any, rt: Any, two: Any) -> None:
    make_event(rt, two[0]["id"])
    assert ids(client.get("/api/events?integration=nope", headers=admin)) == []


def test_show_has_every_contract_field_and_the_attempt_history(client: Any, admin: Any, rt: Any, two: Any) -> None:
    # Given a failed event with two attempts
    event_id = make_event(rt, two[0]["id"], status="failed", organisation_id=42, received_at=T0,
                          reason="the account number is already used by another contact",
                          error="xero: HTTP 400: The Account Number already exists", attempts=2)

    # When it is shown
    response = client.get(f"/api/events/{event_id}", headers=admin)

    # Then every field of interface §6 is there, with its value
    assert response.status_code == 200
    event = response.get_json()
    assert {"id", "integration_id", "source_event_id", "organisation_id", "kind", "status", "attempts",
            "attempt_history", "received_at", "finished_at", "outcome", "last_error", "payload"} <= set(event)
    assert (event["id"], event["integration_id"], event["organisation_id"]) == (event_id, two[0]["id"], 42)
    assert (event["status"], event["attempts"], event["kind"]) == ("failed", 2, "update")
    assert event["received_at"] == "2026-03-01T12:00:00Z"
    assert event["outcome"]["reason"] == "the account number is already used by another contact"
    assert event["last_error"] == "xero: HTTP 400: The Account Number already exists"
    assert event["payload"]["action"]["subject_id"] == 42
    assert [(a["number"], a["status"]) for a in event["attempt_history"]] == [(1, "retrying"), (2, "failed")]
    # and the list answers the same view
    listed = client.get(f"/api/events?integration={two[0]['id']}", headers=admin).get_json()["events"]
    assert listed == [event]


def test_unknown_event_is_404_and_no_token_is_401(client: Any, admin: Any, rt: Any) -> None:
    assert client.get("/api/events/nope", headers=admin).status_code == 404
    assert client.get("/api/events/" + "x" * 200, headers=admin).status_code == 404
    assert client.get("/api/events").status_code == 401
    assert client.get("/api/events", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post("/api/events/replay", json={}).status_code == 401
