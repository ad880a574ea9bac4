"""Failed events a person has dealt with (interface §6): resolved by hand, or superseded by a
later event of the same organisation that succeeded; "needs attention" is what is left.

Supersession is read, not stored: it follows from the events themselves (a later success of
the same organisation), so it is right the moment that success is recorded, with no pass to
run and nothing to keep in step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import aliased

from core.db import Database, rows_matched
from core.models import EventStatus
from core.store.events import EventFilter
from core.tables import Event, utcnow

MAX_NOTE = 2000


def resolve(db: Database, event_id: str, note: str | None) -> Event | None:
    """Mark a failed event resolved; ``None`` if it is not (or no longer) failed."""
    with db.session() as session:
        changed = rows_matched(session.execute(
            update(Event).where(Event.id == event_id, Event.status == EventStatus.FAILED)
            .values(resolved_at=utcnow(), resolved_note=note)
        ))
        return session.get(Event, event_id) if changed else None


def _later_success() -> Any:
    later = aliased(Event)
    return (
        select(later.id)
        .where(later.integration_id == Event.integration_id, later.organisation_id == Event.organisation_id,
               later.status == EventStatus.SUCCEEDED, later.received_at > Event.received_at)
        .order_by(later.received_at.desc()).limit(1)
    )


def superseding(db: Database, rows: Sequence[Event]) -> dict[str, str]:
    """For each failed event of ``rows`` with a later success of its organisation: that
    success's id (the latest one)."""
    failed = [row.id for row in rows if row.status == EventStatus.FAILED and row.organisation_id is not None]
    if not failed:
        return {}
    query = select(Event.id, _later_success().scalar_subquery()).where(Event.id.in_(failed))
    with db.reading() as session:
        return {event_id: later for event_id, later in session.execute(query) if later is not None}


def needs_attention(event: Event, superseded_by: str | None) -> bool:
    return event.status == EventStatus.FAILED and superseded_by is None and not resolved_since_failure(event)


def resolved_since_failure(event: Event) -> bool:
    """Resolved after it last failed (a resolved event replayed and failed again is not)."""
    return event.resolved_at is not None and (event.finished_at is None or event.resolved_at >= event.finished_at)


@dataclass(frozen=True)
class AttentionFilter(EventFilter):
    """``needs_attention=true``: failed, neither resolved since its last failure nor
    superseded; the other filters apply as well."""

    def clauses(self) -> list[Any]:
        later = aliased(Event)
        superseded = exists().where(
            later.integration_id == Event.integration_id, later.organisation_id == Event.organisation_id,
            later.status == EventStatus.SUCCEEDED, later.received_at > Event.received_at,
        )
        unresolved = or_(Event.resolved_at.is_(None), and_(Event.finished_at.is_not(None),
                                                           Event.resolved_at < Event.finished_at))
        return [*super().clauses(), Event.status == EventStatus.FAILED, unresolved, ~superseded]


def make_due_now(db: Database, filters: EventFilter) -> list[str]:
    """``retrying`` events matching ``filters`` that wait for their next attempt become due now
    (those already handed to the broker are on their way)."""
    now = utcnow()
    with db.session() as session:
        ids = list(session.scalars(
            select(Event.id).where(*filters.clauses(), Event.status == EventStatus.RETRYING, Event.sent_at.is_(None))
        ))
        if ids:
            session.execute(
                update(Event).where(Event.id.in_(ids), Event.status == EventStatus.RETRYING, Event.sent_at.is_(None))
                .values(next_attempt_at=now)
            )
    return ids
