""""Delayed" on the queue tiles: the events waiting for their next attempt, whatever holds them
(a retry's backoff, a lock, the rate limiter). The broker's own delay queue is nearly always
empty here: the database, not Redis, holds an event's next attempt (``workers.broker``)."""
from __future__ import annotations

from dataclasses import replace

from sqlalchemy import func, select

from core.models import EventStatus
from core.runtime import Runtime
from core.tables import Event, utcnow
from webhooks.queues import QueueStats
from workers.broker import SYNC_QUEUE


def waiting_events(rt: Runtime) -> int:
    with rt.db.reading() as session:
        return int(session.scalar(
            select(func.count()).select_from(Event).where(
                Event.status.in_((EventStatus.QUEUED, EventStatus.RETRYING)), Event.next_attempt_at > utcnow())
        ) or 0)


def with_waiting_events(rt: Runtime, figures: list[QueueStats]) -> list[QueueStats]:
    waiting = waiting_events(rt)
    return [replace(q, delayed=q.delayed + waiting) if q.name == SYNC_QUEUE else q for q in figures]
