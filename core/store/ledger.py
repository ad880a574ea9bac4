"""Ledger events (changes made in the accounting system) and the link's ``status``.

Ledger events live in the same ``events`` table as every other event (same lifecycle, API and
replay), with ``source`` ``ledger`` and ``kind`` ``contact_changed``.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update

from core.db import Database, rows_matched
from core.ledger import ChangeSeen
from core.models import EventStatus
from core.store import events
from core.tables import Event, Link, utcnow

SOURCE = "ledger"
KIND = "contact_changed"
SUBJECT_TYPE = "Contact"
NOT_LINKED = "the contact is not linked to an organisation"


def record(
    db: Database, integration_id: str, change: ChangeSeen, *, organisation_id: int | None,
    message_id: str | None = None,
) -> tuple[Event, bool]:
    """Insert and commit the change's event; ``(event, True)`` when it was recorded before.

    A contact that is not linked is recorded ``skipped`` (interface §10) and never sent."""
    linked = organisation_id is not None
    return events.record(db, events.NewEvent(
        integration_id=integration_id, source_event_id=change.source_event_id(),
        organisation_id=organisation_id, subject_type=SUBJECT_TYPE, kind=KIND, payload=change.payload(),
        status=EventStatus.QUEUED if linked else EventStatus.SKIPPED, source=SOURCE,
        contact_id=change.contact_id,
        skipped_outcome={"action": None, "contact_id": change.contact_id, "overwritten": False,
                         "reason": NOT_LINKED},
    ), message_id=message_id if linked else None)


#: Earlier events of one contact looked at to tell whether a change is covered.
COVER_LOOKBACK = 20


def record_if_new(
    db: Database, integration_id: str, change: ChangeSeen, *, organisation_id: int | None,
    message_id: str | None = None,
) -> Event | None:
    """Record the change unless an event already covers it or holds it; the new event."""
    if covered(db, integration_id, change.contact_id, change.changed_at):
        return None
    event, duplicate = record(db, integration_id, change, organisation_id=organisation_id,
                              message_id=message_id)
    return None if duplicate else event


def covered(db: Database, integration_id: str, contact_id: str, changed_at: datetime) -> bool:
    """Whether an event about this contact will read it, or read it as of this change or later.

    An event still owed reads the contact when it runs. A finished one records the contact's
    own stamp as it read it (``outcome.contact_updated_at``, the system's clock, so no skew
    between clocks and no rounding): when that is at or after this change, it saw it. Either
    way a second event would only repeat the work (the poll seeing what a webhook reported,
    or a webhook retried after the poll caught the change). An event in progress may have read
    before the change: it does not cover it."""
    with db.reading() as session:
        rows = session.execute(select(Event.status, Event.outcome).where(
            Event.integration_id == integration_id, Event.contact_id == contact_id,
            Event.source == SOURCE,
        ).order_by(Event.received_at.desc()).limit(COVER_LOOKBACK)).all()
    for status, outcome in rows:
        if status in (EventStatus.QUEUED, EventStatus.RETRYING):
            return True
        seen = (outcome or {}).get("contact_updated_at")
        if status != EventStatus.PROCESSING and seen and datetime.fromisoformat(seen) >= changed_at:
            return True
    return False


def is_ledger_event(db: Database, event_id: str) -> bool:
    with db.reading() as session:
        return session.scalars(select(Event.source).where(Event.id == event_id)).first() == SOURCE


def claim(db: Database, event_id: str, *, lease_seconds: float) -> Event | None:
    """Take a due ledger event for this worker: owed and due (``next_attempt_at``), or whose
    worker's lease lapsed. The ledger's own claim, so that what the rental system's claim
    accepts (its subjects are members) never decides a ledger event's fate."""
    now = utcnow()
    with db.session() as session:
        taken = rows_matched(session.execute(
            update(Event).where(
                Event.id == event_id, Event.source == SOURCE,
                or_(and_(Event.status.in_((EventStatus.QUEUED, EventStatus.RETRYING)),
                         or_(Event.next_attempt_at.is_(None), Event.next_attempt_at <= now)),
                    and_(Event.status == EventStatus.PROCESSING, Event.lease_until < now)),
            ).values(status=EventStatus.PROCESSING, started_at=now,
                     lease_until=now + timedelta(seconds=lease_seconds))
        ))
        return session.get(Event, event_id) if taken else None


def set_link_status(db: Database, link_id: int, status: str, reason: str | None) -> None:
    with db.session() as session:
        session.execute(update(Link).where(Link.id == link_id)
                        .values(status=status, broken_reason=reason))


def set_written_stamp(db: Database, link_id: int, stamp: datetime | None) -> None:
    """The contact's stamp in the answer to a write the ledger made outside ``links.save``
    (a reactivation); ``None`` when the answer carried none."""
    with db.session() as session:
        session.execute(update(Link).where(Link.id == link_id).values(last_written_stamp=stamp))


def link_status(db: Database, integration_id: str, organisation_id: int) -> tuple[str, str | None] | None:
    """``(status, broken_reason)`` of the organisation's link, or ``None`` without one."""
    with db.reading() as session:
        row = session.execute(select(Link.status, Link.broken_reason).where(
            Link.integration_id == integration_id, Link.organisation_id == organisation_id,
        )).first()
    return (row[0], row[1]) if row else None


def links_with_status(db: Database, integration_id: str, status: str) -> list[Link]:
    with db.reading() as session:
        return list(session.scalars(select(Link).where(
            Link.integration_id == integration_id, Link.status == status,
        ).order_by(Link.organisation_id)))


def all_links(db: Database, integration_id: str) -> list[Link]:
    with db.reading() as session:
        return list(session.scalars(select(Link).where(Link.integration_id == integration_id)
                                    .order_by(Link.organisation_id)))


def sync_refusal(db: Database, integration_id: str, organisation_id: int) -> str | None:
    """For the sync (``workers/sync.py`` or ``core/decision.py``): the reason a sync of this
    organisation must fail while its link is ``broken``, else ``None``."""
    from core.ledger import flagged_sync_refusal

    found = link_status(db, integration_id, organisation_id)
    return flagged_sync_refusal(*found) if found else None
