"""``core.store.events`` on SQLite and PostgreSQL: record, duplicates, claim (also racing),
finish, retry_later, replay, paging with a cursor, and pruning."""
from __future__ import annotations

import itertools
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select, update

from core.db import Database
from core.models import Contact
from core.store import events, links
from core.store.events import EventFilter, NewEvent
from core.store.links import LinkWrite
from core.tables import Event, EventAttempt, utcnow

_source_ids = itertools.count(1000)
OUTCOME = {"action": "updated", "contact_id": "c-1", "overwritten": True, "reason": None}


def new_event(integration_id: str, **changes: Any) -> NewEvent:
    values = {"integration_id": integration_id, "source_event_id": str(next(_source_ids)),
              "organisation_id": 7, "subject_type": "Member", "kind": "update",
              "payload": {"action": {"id": 1, "extra": ["kept"]}}}
    values.update(changes)
    return NewEvent(**values)


def recorded(db: Database, integration_id: str, **changes: Any) -> Event:
    event, duplicate = events.record(db, new_event(integration_id, **changes))
    assert not duplicate
    return event


def set_received(db: Database, event_id: str, at: datetime) -> None:
    with db.session() as session:
        session.execute(update(Event).where(Event.id == event_id).values(received_at=at))


def attempts_rows(db: Database, event_id: str) -> list[EventAttempt]:
    return events.attempts_of(db, [event_id])[event_id]


@pytest.fixture
def integration_id(make_integration: Any) -> str:
    return make_integration().id


# --- record ----------------------------------------------------------------------------------


def test_record_commits_the_event_as_given(db: Database, integration_id: str) -> None:
    event = recorded(db, integration_id, kind="create", organisation_id=2**63 - 1)
    stored = events.get(db, event.id)
    assert stored is not None
    assert (stored.status, stored.kind, stored.organisation_id, stored.attempts) == ("queued", "create", 2**63 - 1, 0)
    assert stored.payload == {"action": {"id": 1, "extra": ["kept"]}}
    assert stored.received_at.tzinfo is not None
    assert abs(stored.received_at - utcnow()) < timedelta(seconds=30)


def test_record_of_the_same_source_event_is_a_duplicate(db: Database, integration_id: str, make_integration: Any) -> None:
    first, duplicate = events.record(db, new_event(integration_id, source_event_id="98311", kind="create"))
    again, is_duplicate = events.record(db, new_event(integration_id, source_event_id="98311", kind="update"))
    assert (duplicate, is_duplicate) == (False, True)
    assert again.id == first.id and again.kind == "create"
    other, other_duplicate = events.record(db, new_event(make_integration().id, source_event_id="98311"))
    assert other_duplicate is False and other.id != first.id
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 2


def test_record_of_another_subject_is_skipped_and_finished(db: Database, integration_id: str) -> None:
    event = recorded(db, integration_id, subject_type="Opportunity", status="skipped")
    stored = events.get(db, event.id)
    assert stored is not None and stored.status == "skipped" and stored.finished_at is not None
    assert stored.outcome["action"] is None and "Opportunity" in stored.outcome["reason"]
    assert events.claim(db, event.id, lease_seconds=30) is None


def test_five_racing_records_of_one_delivery_make_one_event(db: Database, integration_id: str) -> None:
    barrier, answers = threading.Barrier(5), []

    def record() -> None:
        barrier.wait()
        event, duplicate = events.record(db, new_event(integration_id, source_event_id="race"))
        answers.append((event.id, duplicate))

    threads = [threading.Thread(target=record) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(answers) == 5
    assert len({event_id for event_id, _ in answers}) == 1
    assert sorted(duplicate for _, duplicate in answers) == [False, True, True, True, True]


# --- claim -----------------------------------------------------------------------------------


def test_claim_takes_an_owed_event_once(db: Database, integration_id: str) -> None:
    event = recorded(db, integration_id)
    claimed = events.claim(db, event.id, lease_seconds=60)
    assert claimed is not None and claimed.status == "processing"
    assert claimed.lease_until is not None and claimed.lease_until > utcnow() + timedelta(seconds=50)
    assert events.claim(db, event.id, lease_seconds=60) is None
    assert events.claim(db, "0" * 32, lease_seconds=60) is None


def test_claim_takes_over_a_lapsed_lease(db: Database, integration_id: str) -> None:
    event = recorded(db, integration_id)
    assert events.claim(db, event.id, lease_seconds=-1) is not None  # a worker that died
    assert events.claim(db, event.id, lease_seconds=60) is not None
    assert events.claim(db, event.id, lease_seconds=60) is None


def test_eight_racing_claims_have_exactly_one_winner(db: Database, integration_id: str) -> None:
    # Given one owed event and eight workers holding a message for it
    event = recorded(db, integration_id)
    barrier, winners, errors = threading.Barrier(8), [], []

    def claim() -> None:
        barrier.wait()
        try:
            winners.append(events.claim(db, event.id, lease_seconds=60))
        except Exception as error:  # a database error would be a failure of the test
            errors.append(error)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    # When they all claim at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # Then exactly one wins
    assert errors == []
    assert len(winners) == 8
    assert sum(1 for winner in winners if winner is not None) == 1


# --- attempts, finish, retry ------------------------------------------------------------------


def test_finish_records_status_outcome_and_closes_the_attempt(db: Database, integration_id: str) -> None:
    event = recorded(db, integration_id)
    claimed = events.claim(db, event.id, lease_seconds=60)
    assert claimed is not None
    assert events.start_attempt(db, claimed) == 1
    events.finish(db, event.id, status="succeeded", outcome=OUTCOME)
    stored = events.get(db, event.id)
    assert stored is not None
    assert (stored.status, stored.outcome, stored.attempts, stored.lease_until) == ("succeeded", OUTCOME, 1, None)
    assert stored.finished_at is not None
    [attempt] = attempts_rows(db, event.id)
    assert (attempt.number, attempt.status, attempt.outcome) == (1, "succeeded", OUTCOME)
    assert attempt.finished_at is not None


def test_finish_of_an_event_not_processing_changes_nothing(db: Database, integration_id: str) -> None:
    event = recorded(db, integration_id)
    events.finish(db, event.id, status="failed", outcome=None, error="stale worker")
    stored = events.get(db, event.id)
    assert stored is not None and stored.status == "queued" and stored.last_error is None


def test_retry_later_after_a_failure_counts_the_attempt(db: Database, integration_id: str) -> None:
    event = recorded(db, integration_id)
    claimed = events.claim(db, event.id, lease_seconds=60)
    assert claimed is not None
    events.start_attempt(db, claimed)
    events.mark_sent(db, event.id, "message-1")
    events.retry_later(db, event.id, delay=30, error="HTTP 503", failed_attempt=True)
    stored = events.get(db, event.id)
    assert stored is not None
    assert (stored.status, stored.attempts, stored.last_error) == ("retrying", 1, "HTTP 503")
    assert stored.first_failure_at is not None and stored.sent_at is None and stored.message_id is None
    assert timedelta(seconds=25) < stored.next_attempt_at - utcnow() <= timedelta(seconds=30)
    assert [(a.status, a.error) for a in attempts_rows(db, event.id)] == [("retrying", "HTTP 503")]
    # Not due yet: the relay does not send it; once due it does
    assert event.id not in [e.id for e in events.owed_unsent(db)]
    with db.session() as session:
        session.execute(update(Event).where(Event.id == event.id).values(next_attempt_at=utcnow()))
    assert event.id in [e.id for e in events.owed_unsent(db)]
    # And the next claim and failure keep the first failure's time
    first_failure = stored.first_failure_at
    again = events.claim(db, event.id, lease_seconds=60)
    assert again is not None and events.start_attempt(db, again) == 2
    events.retry_later(db, event.id, delay=1, error="HTTP 502", failed_attempt=True)
    stored = events.get(db, event.id)
    assert stored is not None and stored.first_failure_at == first_failure and stored.attempts == 2


def test_retry_later_for_a_wait_does_not_count_an_attempt(db: Database, integration_id: str) -> None:
    # Given a sync that started (an attempt counted) and then had to wait for the rate limiter
    event = recorded(db, integration_id)
    claimed = events.claim(db, event.id, lease_seconds=60)
    assert claimed is not None
    events.start_attempt(db, claimed)
    # When it is put back to wait
    events.retry_later(db, event.id, delay=2, error=None, failed_attempt=False)
    # Then it is queued again without an attempt, a failure time or an error (interface §6)
    stored = events.get(db, event.id)
    assert stored is not None
    assert (stored.status, stored.attempts, stored.last_error, stored.first_failure_at) == ("queued", 0, None, None)
    assert attempts_rows(db, event.id) == []


def test_a_wait_after_a_killed_worker_keeps_that_workers_attempt(db: Database, integration_id: str) -> None:
    # Given a worker killed mid-sync (its attempt left open, its lease lapsed)
    event = recorded(db, integration_id)
    killed = events.claim(db, event.id, lease_seconds=-1)
    assert killed is not None and events.start_attempt(db, killed) == 1
    # When the next worker's run only waits
    taken = events.claim(db, event.id, lease_seconds=60)
    assert taken is not None and events.start_attempt(db, taken) == 2
    events.retry_later(db, event.id, delay=1, error=None, failed_attempt=False)
    # Then the killed worker's attempt is still counted and on record
    stored = events.get(db, event.id)
    assert stored is not None and stored.attempts == 1
    assert [a.number for a in attempts_rows(db, event.id)] == [1]


# --- replay ---------------------------------------------------------------------------------


def test_requeue_for_replay_of_a_finished_event(db: Database, integration_id: str) -> None:
    event = recorded(db, integration_id)
    assert events.claim(db, event.id, lease_seconds=60) is not None
    events.finish(db, event.id, status="failed", outcome={"action": None, "reason": "x"}, error="boom")
    replayed = events.requeue_for_replay(db, event.id)
    assert replayed is not None
    assert (replayed.status, replayed.force_write, replayed.finished_at) == ("queued", True, None)
    assert event.id in [e.id for e in events.owed_unsent(db)]


def test_requeue_for_replay_of_an_owed_event_is_refused(db: Database, integration_id: str) -> None:
    event = recorded(db, integration_id)
    assert events.requeue_for_replay(db, event.id) is None
    assert events.claim(db, event.id, lease_seconds=60) is not None
    assert events.requeue_for_replay(db, event.id) is None
    stored = events.get(db, event.id)
    assert stored is not None and stored.status == "processing" and stored.force_write is False


# --- paging ---------------------------------------------------------------------------------


def test_page_walks_newest_first_with_a_cursor_ties_broken_by_id(db: Database, integration_id: str, make_integration: Any) -> None:
    # Given seven events, three of them received at the same instant, and one of another integration
    base = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    times = [base, base + timedelta(minutes=1), base + timedelta(minutes=1), base + timedelta(minutes=1),
             base + timedelta(minutes=2), base + timedelta(minutes=3), base + timedelta(minutes=4)]
    made = []
    for at in times:
        event = recorded(db, integration_id)
        set_received(db, event.id, at)
        made.append((at, event.id))
    set_received(db, recorded(db, make_integration().id).id, base + timedelta(minutes=2))
    expected = [event_id for _, event_id in sorted(made, reverse=True)]
    # When they are read three at a time
    seen, cursor, pages = [], None, 0
    while True:
        rows, cursor = events.page(db, EventFilter(integration_id=integration_id), limit=3, cursor=cursor)
        seen.extend(row.id for row in rows)
        pages += 1
        if cursor is None:
            break
    # Then each comes once, in (received_at, id) descending order, and the last page says so
    assert seen == expected
    assert pages == 3


def test_page_filters(db: Database, integration_id: str) -> None:
    base = datetime(2026, 2, 1, tzinfo=timezone.utc)
    early = recorded(db, integration_id, organisation_id=1)
    late = recorded(db, integration_id, organisation_id=2, status="skipped")
    set_received(db, early.id, base)
    set_received(db, late.id, base + timedelta(hours=1))

    def ids(**filters: Any) -> list[str]:
        rows, _ = events.page(db, EventFilter(**filters), limit=50, cursor=None)
        return [row.id for row in rows]

    assert ids(status="skipped") == [late.id]
    assert ids(organisation_id=1) == [early.id]
    assert ids(since=base + timedelta(minutes=1)) == [late.id]
    assert ids(until=base + timedelta(minutes=1)) == [early.id]
    assert ids(since=base, until=base + timedelta(hours=1)) == [late.id, early.id]
    assert ids(integration_id="0" * 32) == []


def test_page_refuses_a_cursor_it_did_not_make(db: Database) -> None:
    for cursor in ("not-a-cursor", "W10", "eyJ4IjoxfQ", "WyJub3QgYSB0aW1lIiwgIngiXQ", "WzEsIDJd"):
        with pytest.raises(ValueError):
            events.page(db, EventFilter(), limit=5, cursor=cursor)


# --- prune ----------------------------------------------------------------------------------


def test_prune_removes_old_events_and_attempts_and_keeps_links(db: Database, integration_id: str) -> None:
    # Given an old event with an attempt, a recent one, and a link
    old, recent = recorded(db, integration_id), recorded(db, integration_id)
    claimed = events.claim(db, old.id, lease_seconds=60)
    assert claimed is not None
    events.start_attempt(db, claimed)
    events.finish(db, old.id, status="failed", outcome=None, error="x")
    set_received(db, old.id, utcnow() - timedelta(days=91))
    links.save(db, LinkWrite(integration_id, 7, "Org", Contact("c-1", "Org"), None))
    # When events older than 90 days are pruned (in small batches)
    removed = events.prune(db, older_than=utcnow() - timedelta(days=90), batch=1)
    # Then only the old one (failed too) and its attempts are gone
    assert removed == 1
    assert events.get(db, old.id) is None and attempts_rows(db, old.id) == []
    assert events.get(db, recent.id) is not None
    assert links.get(db, integration_id, 7) is not None
