"""Retention: events older than ``EVENT_RETENTION_DAYS`` are pruned, failed ones included;
links are never pruned (interface §8). The scheduler runs ``prune_events`` periodically."""
from __future__ import annotations

from datetime import timedelta

import structlog

from core.runtime import Runtime
from core.store import events
from core.tables import utcnow

log = structlog.get_logger(__name__)


def prune_events(rt: Runtime) -> int:
    """Delete events received more than the retention period ago; the number removed.
    A retention of 0 days keeps everything (no operator means "delete at once")."""
    days = rt.settings.event_retention_days
    if days <= 0:
        return 0
    removed = events.prune(rt.db, older_than=utcnow() - timedelta(days=days))
    if removed:
        log.info("events pruned", removed=removed, retention_days=days)
    return removed
