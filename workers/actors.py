"""Thin actors over plain functions (Dramatiq docs: actors idempotent, send ids not objects).

Start a worker with ``dramatiq workers.actors``. Retries are off here: the database decides
(``workers.processing``), so that nothing owed lives only in Redis.
"""
from __future__ import annotations

import dramatiq

from core import logging as app_logging
from core.runtime import runtime
from workers.broker import BULK_QUEUE, SYNC_QUEUE, broker  # noqa: F401 - sets the broker first
from workers.processing import process_event

app_logging.configure()

#: Milliseconds an actor may run; longer than the organisation lock's TTL is pointless.
TIME_LIMIT_MS = 10 * 60 * 1000


@dramatiq.actor(queue_name=SYNC_QUEUE, max_retries=0, time_limit=TIME_LIMIT_MS)
def sync_event(event_id: str) -> None:
    """Sync the organisation of one event (a repeated message finds nothing owed)."""
    process_event(runtime(), event_id)
