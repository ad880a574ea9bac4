"""``event_counts`` stays equal to counting the events, through every kind of change (record,
claim, retry, finish, replay, lapse, prune), on SQLite and PostgreSQL (issue 13, finding 3)."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from core.db import Database
from core.store import event_counts, events
from core.tables import Event, utcnow
from tests.core.store.test_store_events import recorded, set_received


def counted(db: Database) -> Counter[tuple[str, str]]:
    with db.reading() as session:
        return Counter((row.integration_id, row.status) for row in session.execute(
            select(Event.integration_id, Event.status)))


def kept(db: Database) -> Counter[tuple[str, str]]:
    return Counter({(i, s): n for i, s, n in event_counts.by_integration_and_status(db)})


def test_kept_counts_follow_every_change_of_an_event(db: Database, make_integration: Any) -> None:
    first, second = make_integration().id, make_integration(name="Other").id
    made = [recorded(db, first) for _ in range(4)] + [recorded(db, second) for _ in range(2)]
    recorded(db, second, subject_type="Opportunity", status="skipped")
    assert kept(db) == counted(db) == Counter({(first, "queued"): 4, (second, "queued"): 2, (second, "skipped"): 1})

    a, b, c, d = made[:4]
    assert events.claim(db, a.id, lease_seconds=60) is not None
    events.finish(db, a.id, status="succeeded", outcome=None)
    assert events.claim(db, b.id, lease_seconds=60) is not None
    events.retry_later(db, b.id, delay=0, error="503", failed_attempt=True)
    assert events.claim(db, c.id, lease_seconds=-1) is not None  # a lapsed lease
    assert events.recover_lapsed(db) == 1
    assert events.claim(db, d.id, lease_seconds=60) is not None
    events.finish(db, d.id, status="failed", outcome=None, error="x")
    assert events.requeue_for_replay(db, d.id) is not None
    assert kept(db) == counted(db)

    set_received(db, a.id, utcnow() - timedelta(days=100))
    assert events.prune(db, older_than=utcnow() - timedelta(days=90)) == 1
    assert kept(db) == counted(db)
    assert kept(db)[(first, "succeeded")] == 0
