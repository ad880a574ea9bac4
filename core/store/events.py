"""Events: recorded before the webhook is answered, claimed by one worker, finished once.

The life of an event row is the record of what is owed (docs/architecture.md, invariants). Every status
change is a conditional UPDATE, so a repeated or stale broker message cannot run an event
twice: only the worker whose ``claim`` succeeded may finish it.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Sequence, cast

from sqlalchemy import Table, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import holders
from core.db import Database, rows_matched
from core.models import EventStatus
from core.tables import Event, EventAttempt, new_id, utcnow

#: Statuses a worker still owes work for.
OWED = EventStatus.owed()
FINAL = EventStatus.final()
#: The only subject that is ever synced (interface §6): any other is recorded ``skipped`` and
#: stays so, replayed or not (its ``subject_id`` is not an organisation's id).
SYNCED_SUBJECT = "Member"
#: ``Event``'s table for Core statements. A declarative class is typed as having any
#: ``FromClause`` for ``__table__``; a mapped class with ``__tablename__`` has a ``Table``.
EVENT_TABLE = cast(Table, Event.__table__)


@dataclass(frozen=True)
class NewEvent:
    integration_id: str
    source_event_id: str
    organisation_id: int | None
    subject_type: str
    kind: str
    payload: dict[str, Any]
    #: ``queued`` for a member, ``skipped`` for another subject (recorded, not processed).
    status: str = EventStatus.QUEUED
    #: Where it came from (``current_rms``, or ``ledger`` for a change in the accounting system).
    source: str = "current_rms"
    #: The accounting system's contact a ledger change is about.
    contact_id: str | None = None
    #: A skipped event's outcome (``None``: "not a member").
    skipped_outcome: dict[str, Any] | None = None


def record(db: Database, new: NewEvent, *, message_id: str | None = None) -> tuple[Event, bool]:
    """Insert and commit the event; ``(event, True)`` when this ``action.id`` was seen before.

    With ``message_id`` the event is recorded as sent under that broker message id in the same
    commit (the caller enqueues it right after; the relay re-sends it if that fails). A Core
    INSERT, not the ORM's unit of work: this is the webhook's hot path."""
    now = utcnow()
    skipped = new.status == EventStatus.SKIPPED
    values = dict(
        id=new_id(), integration_id=new.integration_id, source_event_id=new.source_event_id,
        organisation_id=new.organisation_id, subject_type=new.subject_type, kind=new.kind,
        source=new.source, contact_id=new.contact_id,
        status=new.status, attempts=0, force_write=False, payload=new.payload, received_at=now,
        finished_at=now if skipped else None,
        outcome=(new.skipped_outcome or _skipped_outcome(new)) if skipped else None,
        sent_at=now if message_id else None, message_id=message_id,
    )
    try:
        with db.engine.begin() as connection:
            connection.execute(insert(EVENT_TABLE), [values])
        return Event(**values), False
    except IntegrityError:
        with db.reading() as session:
            existing = session.scalars(
                select(Event).where(
                    Event.integration_id == new.integration_id,
                    Event.source_event_id == new.source_event_id,
                )
            ).one()
            return existing, True


def _skipped_outcome(new: NewEvent) -> dict[str, Any]:
    return {"action": None, "contact_id": None, "overwritten": False,
            "reason": f"not a member ({new.subject_type})"}


def mark_sent(db: Database, event_id: str, message_id: str | None) -> bool:
    """Record that the broker is about to be handed ``message_id`` for this owed, unsent event;
    ``False`` when it is not owed or already sent. The outbox marks *before* it enqueues, so a
    worker's ``retry_later`` can never be overwritten by a late mark (the mark is undone with
    ``mark_unsent`` when the enqueue fails), and of two senders only one enqueues."""
    with db.session() as session:
        return bool(rows_matched(session.execute(
            update(Event).where(Event.id == event_id, Event.status.in_(OWED), Event.sent_at.is_(None))
            .values(sent_at=utcnow(), message_id=message_id)
        )))


def claim(db: Database, event_id: str, *, lease_seconds: float) -> Event | None:
    """Take the event for this worker, or ``None`` if it is not owed (done, or another
    worker's lease is still live). A lapsed lease (a killed worker) may be taken over."""
    now = utcnow()
    if not _maybe_claimable(db, event_id, now):
        return None
    with db.session() as session:
        taken = rows_matched(session.execute(
            update(Event)
            .where(
                Event.id == event_id, Event.subject_type == SYNCED_SUBJECT,
                or_(
                    Event.status.in_(OWED),
                    and_(Event.status == EventStatus.PROCESSING, Event.lease_until < now),
                ),
            )
            .values(status=EventStatus.PROCESSING, started_at=now,
                    lease_until=now + timedelta(seconds=lease_seconds), lease_holder=_holder())
        ))
        if not taken:
            return None
        return session.get(Event, event_id)


def _maybe_claimable(db: Database, event_id: str, now: datetime) -> bool:
    """A read first, without the write lock: the relay re-sends owed events by age (a message
    may be stranded in a live worker's ack set), so most repeated messages find their event
    done or running, and need not queue for SQLite's write lock to learn it."""
    with db.reading() as session:
        row = session.execute(
            select(Event.status, Event.lease_until, Event.subject_type).where(Event.id == event_id)
        ).first()
    if row is None or row.subject_type != SYNCED_SUBJECT:
        return False
    if row.status in OWED:
        return True
    lease: datetime | None = row.lease_until
    if row.status != EventStatus.PROCESSING or lease is None:
        return False
    return (lease if lease.tzinfo else lease.replace(tzinfo=now.tzinfo)) < now


def claim_more(
    db: Database, *, integration_id: str, kind: str, limit: int, lease_seconds: float,
    exclude: str,
) -> list[Event]:
    """Claim up to ``limit`` more due events of one integration and kind (a batch of creates
    synced together). Each is claimed with the same conditional update as ``claim``."""
    now = utcnow()
    with db.session() as session:
        candidates = list(session.scalars(
            select(Event.id).where(
                Event.integration_id == integration_id, Event.kind == kind,
                Event.status.in_(OWED), Event.id != exclude,
                or_(Event.next_attempt_at.is_(None), Event.next_attempt_at <= now),
            ).order_by(Event.received_at).limit(limit)
        ))
        if not candidates:
            return []
        taken = list(session.execute(
            update(Event).where(Event.id.in_(candidates), Event.status.in_(OWED))
            .values(status=EventStatus.PROCESSING, started_at=now,
                    lease_until=now + timedelta(seconds=lease_seconds), lease_holder=_holder())
            .returning(Event.id).execution_options(synchronize_session=False)
        ).scalars())
        return list(session.scalars(select(Event).where(Event.id.in_(taken)).order_by(Event.received_at)))


def start_attempt(db: Database, event: Event) -> int:
    """Count an attempt (the lock is held; the sync really runs). Returns its number."""
    with db.session() as session:
        row = session.get(Event, event.id)
        assert row is not None
        row.attempts += 1
        session.add(EventAttempt(event_id=event.id, number=row.attempts, status=EventStatus.PROCESSING))
        return row.attempts


def finish(
    db: Database, event_id: str, *, status: str, outcome: dict[str, Any] | None,
    error: str | None = None,
) -> None:
    """Record the final status, outcome and error of the event and of its last attempt."""
    now = utcnow()
    with db.session() as session:
        session.execute(
            update(Event).where(Event.id == event_id, Event.status == EventStatus.PROCESSING)
            .values(status=status, outcome=outcome, last_error=error, finished_at=now,
                    lease_until=None, next_attempt_at=None, force_write=False,
                    first_failure_at=None)
        )
        _close_attempt(session, event_id, status=status, outcome=outcome, error=error)


def retry_later(
    db: Database, event_id: str, *, delay: float, error: str | None, failed_attempt: bool,
) -> None:
    """Put the event back as owed, due after ``delay`` seconds. A wait for a lock or for the
    rate limiter is not a failed attempt: its attempt row is removed again."""
    now = utcnow()
    with db.session() as session:
        values: dict[str, Any] = {
            "status": EventStatus.RETRYING if failed_attempt else EventStatus.QUEUED,
            "next_attempt_at": now + timedelta(seconds=delay),
            "lease_until": None, "sent_at": None, "message_id": None,
        }
        if failed_attempt:
            values["last_error"] = error
        session.execute(
            update(Event).where(Event.id == event_id, Event.status == EventStatus.PROCESSING).values(**values)
        )
        if failed_attempt:
            session.execute(
                update(Event).where(Event.id == event_id, Event.first_failure_at.is_(None))
                .values(first_failure_at=now)
            )
            _close_attempt(session, event_id, status=EventStatus.RETRYING, outcome=None, error=error)
        else:
            _undo_attempt(session, event_id)


def _undo_attempt(session: Session, event_id: str) -> None:
    """Forget the open attempt of a sync that only waited (interface §6: a wait does not add
    to ``attempts``)."""
    # Only this run's attempt (the latest): one left open by a killed worker stays on record.
    attempt = session.scalars(
        select(EventAttempt).where(EventAttempt.event_id == event_id, EventAttempt.finished_at.is_(None))
        .order_by(EventAttempt.number.desc()).limit(1)
    ).first()
    if attempt is not None:
        session.delete(attempt)
        session.execute(
            update(Event).where(Event.id == event_id, Event.attempts > 0)
            .values(attempts=Event.attempts - 1)
        )


def _close_attempt(
    session: Session, event_id: str, *, status: str, outcome: dict[str, Any] | None,
    error: str | None,
) -> None:
    attempt = session.scalars(
        select(EventAttempt).where(EventAttempt.event_id == event_id, EventAttempt.finished_at.is_(None))
        .order_by(EventAttempt.number.desc()).limit(1)
    ).first()
    if attempt is not None:
        attempt.status, attempt.outcome, attempt.error = status, outcome, error
        attempt.finished_at = utcnow()


#: Statuses a replay makes owed again, as a new attempt that writes even if nothing changed.
#: ``retrying`` too: its next attempt becomes the replay, now, with ``force_write`` (issue 12,
#: finding 5: left alone, it ran later without it). ``queued`` and ``processing`` are left be.
REPLAYABLE = (*FINAL, EventStatus.RETRYING)
#: Ledger events (``core.store.ledger.SOURCE``) have the same lifecycle and replay as every
#: event (interface §10) though their subject is a contact; ``sync_event`` routes them to the
#: ledger worker, whose own claim takes them.
LEDGER_SOURCE = "ledger"


def requeue_for_replay(db: Database, event_id: str) -> Event | None:
    """Make a finished or retrying event owed again as a replay; ``None`` if it is queued or
    processing already (a replay never runs an event twice), or it is a rental-system event
    whose subject is not a member (recorded ``skipped``, never synced)."""
    with db.session() as session:
        changed = rows_matched(session.execute(
            update(Event).where(Event.id == event_id, Event.status.in_(REPLAYABLE),
                                or_(Event.subject_type == SYNCED_SUBJECT, Event.source == LEDGER_SOURCE))
            .values(status=EventStatus.QUEUED, force_write=True, next_attempt_at=None, sent_at=None,
                    message_id=None, finished_at=None, first_failure_at=None)
        ))
        return session.get(Event, event_id) if changed else None


def get(db: Database, event_id: str) -> Event | None:
    with db.reading() as session:
        return session.get(Event, event_id)


def attempts_of(db: Database, event_ids: Sequence[str]) -> dict[str, list[EventAttempt]]:
    """The attempt history of each event, in one query."""
    history: dict[str, list[EventAttempt]] = {event_id: [] for event_id in event_ids}
    if not event_ids:
        return history
    with db.reading() as session:
        for attempt in session.scalars(
            select(EventAttempt).where(EventAttempt.event_id.in_(list(event_ids)))
            .order_by(EventAttempt.event_id, EventAttempt.number)
        ):
            history[attempt.event_id].append(attempt)
    return history


@dataclass(frozen=True)
class EventFilter:
    integration_id: str | None = None
    status: str | None = None
    organisation_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None

    def clauses(self) -> list[Any]:
        clauses: list[Any] = []
        if self.integration_id:
            clauses.append(Event.integration_id == self.integration_id)
        if self.status:
            clauses.append(Event.status == self.status)
        if self.organisation_id is not None:
            clauses.append(Event.organisation_id == self.organisation_id)
        if self.since:
            clauses.append(Event.received_at >= self.since)
        if self.until:
            clauses.append(Event.received_at <= self.until)
        return clauses


def page(
    db: Database, filters: EventFilter, *, limit: int, cursor: str | None,
) -> tuple[list[Event], str | None]:
    """Events newest first, ordered by (received_at, id); an opaque cursor for the next page."""
    query = select(Event).where(*filters.clauses())
    if cursor:
        received_at, event_id = decode_cursor(cursor)
        query = query.where(or_(
            Event.received_at < received_at,
            and_(Event.received_at == received_at, Event.id < event_id),
        ))
    query = query.order_by(Event.received_at.desc(), Event.id.desc()).limit(limit + 1)
    with db.reading() as session:
        rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_cursor(rows[-1]) if more and rows else None)


def encode_cursor(event: Event) -> str:
    raw = json.dumps([event.received_at.isoformat(), event.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Raises ``ValueError`` for a cursor this service did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        received_at, event_id = json.loads(raw)
        return datetime.fromisoformat(received_at), str(event_id)
    except (ValueError, TypeError, json.JSONDecodeError) as error:
        raise ValueError("invalid cursor") from error


def ids_matching(db: Database, filters: EventFilter) -> Sequence[str]:
    with db.reading() as session:
        return list(session.scalars(select(Event.id).where(*filters.clauses())))


def recover_lapsed(db: Database) -> int:
    """Processing events whose worker's lease lapsed (a killed worker) are owed again."""
    now = utcnow()
    with db.session() as session:
        return rows_matched(session.execute(
            update(Event).where(Event.status == EventStatus.PROCESSING, Event.lease_until < now)
            .values(status=EventStatus.RETRYING, lease_until=None, sent_at=None, message_id=None,
                    next_attempt_at=now)
        ))


def release_holder(db: Database, holder_id: str) -> int:
    """The events whose lease ``holder_id`` holds are owed again at once, as ``recover_lapsed``
    makes them after their lease lapses: that process is known to be dead (``workers.holders``
    checked its pid and start time on its own host), so nothing of it runs them any more. The
    next claim counts the attempt it left open as failed (``count_abandoned_attempt``)."""
    now = utcnow()
    with db.session() as session:
        return rows_matched(session.execute(
            update(Event).where(Event.status == EventStatus.PROCESSING, Event.lease_holder == holder_id)
            .values(status=EventStatus.RETRYING, lease_until=None, lease_holder=None, sent_at=None,
                    message_id=None, next_attempt_at=now)
        ))


def _holder() -> str:
    """Who takes a lease: this process (``core.holders``)."""
    return holders.this_process().id


def owed_unsent(db: Database, *, limit: int = 500) -> list[Event]:
    """Owed events that are due and were never handed to the broker (new while Redis was
    down, or put back to wait for a retry)."""
    now = utcnow()
    with db.reading() as session:
        return list(session.scalars(
            select(Event).where(
                Event.status.in_(OWED), Event.sent_at.is_(None),
                or_(Event.next_attempt_at.is_(None), Event.next_attempt_at <= now),
            ).order_by(Event.received_at).limit(limit)
        ))


def owed_sent_before(db: Database, *, older_than: float, limit: int = 2000) -> list[tuple[str, str | None]]:
    """(id, message id) of owed events handed to the broker more than ``older_than`` seconds
    ago: the relay asks the broker whether it still holds each message."""
    stale = utcnow() - timedelta(seconds=older_than)
    with db.reading() as session:
        return [(row.id, row.message_id) for row in session.execute(
            select(Event.id, Event.message_id).where(
                Event.status.in_(OWED), Event.sent_at.is_not(None), Event.sent_at < stale,
            ).limit(limit)
        )]


def mark_unsent(db: Database, lost: Sequence[tuple[str, str | None]]) -> int:
    """The broker lost these (event id, message id) messages: the relay sends them again.
    Matching the message id too leaves alone an event that was re-sent in the meantime."""
    changed = 0
    with db.session() as session:
        for event_id, message_id in lost:
            changed += rows_matched(session.execute(
                update(Event).where(
                    Event.id == event_id, Event.status.in_(OWED),
                    Event.message_id == message_id if message_id else Event.message_id.is_(None),
                ).values(sent_at=None, message_id=None)
            ))
    return changed


def prune(db: Database, *, older_than: datetime, batch: int = 1000) -> int:
    """Delete finished events (and their attempts) received before ``older_than``; links stay.
    An owed or processing event is never pruned, however old: it is the record of work owed."""
    removed = 0
    while True:
        with db.session() as session:
            ids = list(session.scalars(
                select(Event.id).where(Event.received_at < older_than, Event.status.in_(FINAL))
                .limit(batch)
            ))
            if not ids:
                return removed
            # The status again: an event replayed since the select is owed now, and kept.
            final = select(Event.id).where(Event.id.in_(ids), Event.status.in_(FINAL))
            session.execute(delete(EventAttempt).where(EventAttempt.event_id.in_(final)))
            removed += rows_matched(session.execute(
                delete(Event).where(Event.id.in_(ids), Event.status.in_(FINAL))
            ))


def has_events_for(db: Database, integration_id: str, organisation_id: int) -> bool:
    """Whether any event of this organisation was recorded already (``ix_events_organisation``)."""
    with db.reading() as session:
        return session.scalars(
            select(Event.id).where(Event.integration_id == integration_id,
                                   Event.organisation_id == organisation_id).limit(1)
        ).first() is not None


def by_ids(db: Database, ids: Iterable[str]) -> list[Event]:
    with db.reading() as session:
        return list(session.scalars(select(Event).where(Event.id.in_(list(ids)))))


# -- pipeline (issue 12): appended by the `pipeline` branch; the functions above are `owed`'s --
def claim_due(db: Database, event_id: str, *, lease_seconds: float) -> Event | None:
    """``claim``, honouring ``next_attempt_at``: a duplicate message (or a relay re-send) that
    arrives before the event's backoff or ``Retry-After`` runs nothing. A lapsed lease may be
    taken over at once."""
    now = utcnow()
    with db.session() as session:
        taken = rows_matched(session.execute(
            update(Event)
            .where(
                Event.id == event_id,
                or_(
                    and_(Event.status.in_(OWED),
                         or_(Event.next_attempt_at.is_(None), Event.next_attempt_at <= now)),
                    and_(Event.status == EventStatus.PROCESSING, Event.lease_until < now),
                ),
            )
            .values(status=EventStatus.PROCESSING, started_at=now,
                    lease_until=now + timedelta(seconds=lease_seconds), lease_holder=_holder())
        ))
        if not taken:
            return None
        return session.get(Event, event_id)


def renew_leases(db: Database, event_ids: Sequence[str], *, lease_seconds: float) -> int:
    """Push the lease of events this worker still runs (status ``processing``) further out;
    the lock keeper calls it during long waits and calls."""
    if not event_ids:
        return 0
    with db.session() as session:
        return rows_matched(session.execute(
            update(Event).where(Event.id.in_(list(event_ids)), Event.status == EventStatus.PROCESSING)
            .values(lease_until=utcnow() + timedelta(seconds=lease_seconds))
            .execution_options(synchronize_session=False)
        ))


def count_abandoned_attempt(db: Database, event_id: str) -> None:
    """An attempt left open by a worker that died is a failed attempt: close it and start the
    give-up clock (``first_failure_at``) at its start, so that an event that kills its worker
    every time still reaches the give-up."""
    with db.session() as session:
        open_attempts = list(session.scalars(
            select(EventAttempt).where(EventAttempt.event_id == event_id,
                                       EventAttempt.finished_at.is_(None))
        ))
        if not open_attempts:
            return
        for attempt in open_attempts:
            attempt.status, attempt.finished_at = EventStatus.RETRYING, utcnow()
            attempt.error = attempt.error or "the worker stopped during this attempt"
        started = min(a.started_at for a in open_attempts)
        session.execute(
            update(Event).where(Event.id == event_id, Event.first_failure_at.is_(None))
            .values(first_failure_at=started)
        )
