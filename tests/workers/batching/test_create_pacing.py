"""A burst that arrives more slowly than the worker drains it still goes out in full batches
(``workers.create_pacing``); a lone create is sent at once, and no create waits for ever."""
from __future__ import annotations

import math
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from core.store import events as event_store
from core.tables import utcnow
from tests.support import (
    RunningWorker,
    create_integration,
    sample_member,
    seed_organisation,
    send_webhook,
    wait_for,
)
from tests.workers.batching.test_batching_creates import queue_creates, settled
from workers import create_pacing

#: Seconds between two webhooks of the trickle: far slower than the worker takes a create.
TRICKLE_GAP = 0.02


def test_a_trickle_of_creates_goes_out_in_full_batches(rt: Any, client: Any, admin: Any, sandbox: Any) -> None:
    # Given a worker running while 30 creates of one tenant arrive one at a time
    integration = create_integration(client, admin, sandbox, "xero")
    members = [seed_organisation(sandbox, integration["subdomain"],
                                 membership={**sample_member()["membership"], "number": f"TR-{i}"})
               for i in range(30)]
    writes_before = sandbox.get("xero", "stats")["writes"]
    event_ids: list[str] = []
    with RunningWorker(rt, threads=4):
        began = time.monotonic()
        for member in members:
            event_ids.append(send_webhook(client, integration, member["id"], "create").get_json()["event_id"])
            time.sleep(TRICKLE_GAP)
        span = time.monotonic() - began
        rows = wait_for(lambda: settled(rt, event_ids), timeout=30)

    # Then each created its own contact, in a few calls: the first create alone, then per
    # LINGER_SECONDS of the trickle one gathering's call, and at most one more for a create that
    # slipped in between one gathering's end and the next one's start. The bound follows the
    # trickle's own span, however slow the machine made it; before pacing, the same trickle
    # cost one call for nearly every create (25 of 30).
    assert {row.outcome["action"] for row in rows} == {"created"}
    assert len({row.outcome["contact_id"] for row in rows}) == 30
    writes = sandbox.get("xero", "stats")["writes"] - writes_before
    bound = 1 + 2 * (1 + math.ceil(span / create_pacing.LINGER_SECONDS))
    assert writes <= bound, f"{writes} write calls for 30 creates sent over {span:.2f} s (bound {bound})"


def test_a_lone_create_is_not_put_back(rt: Any, client: Any, admin: Any, sandbox: Any) -> None:
    # Given one create, with no other create of its tenant before or after it
    integration = create_integration(client, admin, sandbox, "xero")
    with RunningWorker(rt, threads=2):
        [event_id] = queue_creates(client, integration, sandbox, 1)
        [row] = wait_for(lambda: settled(rt, [event_id]), timeout=30)
    # Then it ran the first time it was taken: never put back to wait (which sets its due time)
    assert row.status == "succeeded" and row.attempts == 1
    assert row.next_attempt_at is None


def test_a_create_older_than_the_bound_is_never_left_to_a_collector(redis_client: Any) -> None:
    integration_id = "pacing-test"
    assert create_pacing.start_collecting(redis_client, integration_id)
    try:
        now = utcnow()
        young = now - timedelta(seconds=create_pacing.MAX_WAIT_SECONDS / 2)
        old = now - timedelta(seconds=create_pacing.MAX_WAIT_SECONDS)
        assert create_pacing.arrive(redis_client, integration_id, young, now).leave_to_collector
        assert not create_pacing.arrive(redis_client, integration_id, old, now).leave_to_collector
        # A second thread cannot become the collector while the first is
        assert not create_pacing.start_collecting(redis_client, integration_id)
    finally:
        create_pacing.stop_collecting(redis_client, integration_id)
    assert not create_pacing.arrive(redis_client, integration_id, utcnow(), utcnow()).leave_to_collector


def test_events_of_a_stopped_collector_are_sent_again(rt: Any, client: Any, admin: Any, sandbox: Any) -> None:
    # Given a collector's mark left in Redis (its thread gone) while creates arrive
    integration = create_integration(client, admin, sandbox, "xero")
    create_pacing.start_collecting(rt.redis, integration["id"])
    with RunningWorker(rt, threads=2):
        event_ids = [queue_creates(client, integration, sandbox, 1)[0] for _ in range(3)]
        # Then they are put back for a moment and still all run (the relay sends them again,
        # and the mark lapses), each created once
        rows = wait_for(lambda: settled(rt, event_ids), timeout=30)
    assert {row.outcome["action"] for row in rows} == {"created"}
    assert len(event_store.by_ids(rt.db, event_ids)) == 3


def test_a_create_left_to_the_collector_keeps_a_killed_workers_attempt(rt: Any, client: Any, admin: Any, sandbox: Any) -> None:
    from sqlalchemy import update

    from core.store.events import NewEvent
    from core.tables import Event, EventAttempt
    from workers.processing import process_event

    # Given a create whose first attempt a killed worker left open (its lease lapsed)
    integration = create_integration(client, admin, sandbox, "xero")
    event, _ = event_store.record(rt.db, NewEvent(
        integration_id=integration["id"], source_event_id="killed-1", organisation_id=4242,
        subject_type="Member", kind="create", payload={}))
    claimed = event_store.claim_due(rt.db, event.id, lease_seconds=30)
    assert claimed is not None
    event_store.start_attempt(rt.db, claimed)
    with rt.db.session() as session:
        session.execute(update(Event).where(Event.id == event.id).values(lease_until=utcnow() - timedelta(seconds=1)))
    # And another thread gathering the integration's creates
    assert create_pacing.start_collecting(rt.redis, integration["id"])
    try:
        # When a worker takes the create, it leaves it to the collector
        assert process_event(rt, event.id) == "queued"
    finally:
        create_pacing.stop_collecting(rt.redis, integration["id"])
    # Then the dead worker's attempt is still on record, closed as failed, and counted
    with rt.db.session() as session:
        attempts = list(session.scalars(select(EventAttempt).where(EventAttempt.event_id == event.id)))
        row = session.get(Event, event.id)
        assert row is not None and row.attempts == 1 and row.status == "queued"
    assert [(a.number, a.status, a.finished_at is not None) for a in attempts] == [(1, "retrying", True)]
