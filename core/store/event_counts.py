"""Events per integration and status, read from ``event_counts`` (kept by triggers, see
``core.store.event_count_triggers``): a few rows whatever the number of events."""
from __future__ import annotations

from sqlalchemy import select

from core.db import Database
from core.tables import EventCount


def by_integration_and_status(db: Database) -> list[tuple[str, str, int]]:
    """``(integration_id, status, count)`` for every non-empty pair; a read-only session, so
    it never takes SQLite's write lock."""
    with db.reading() as session:
        return [
            (integration_id, status, count)
            for integration_id, status, count in session.execute(
                select(EventCount.integration_id, EventCount.status, EventCount.count)
                .where(EventCount.count > 0)
                .order_by(EventCount.integration_id, EventCount.status)
            )
        ]
