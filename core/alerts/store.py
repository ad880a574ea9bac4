"""The ``alerts`` rows: record, claim for delivery, save what each receiver answered, list."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from core import cursors
from core.alert_settings import AlertSettings
from core.db import Database, rows_matched
from core.tables import Alert, AlertCondition, utcnow

#: A claimed alert is someone's for this long; past it (the worker died) it is due again.
CLAIM_SECONDS = 120.0


def receivers_of(settings: AlertSettings) -> list[dict[str, Any]]:
    """One delivery entry per receiver, named by position and host: an alert webhook URL (a
    Slack one above all) is a secret, so it is never stored or shown."""
    entries: list[dict[str, Any]] = [
        _entry("webhook", index, urlsplit(url).hostname or "webhook")
        for index, url in enumerate(settings.webhook_urls)
    ]
    if settings.smtp is not None and settings.emails:
        count = len(settings.emails)
        entries.append(_entry("email", 0, f"{count} address{'es' if count > 1 else ''}"))
    return entries


def _entry(target: str, index: int, label: str) -> dict[str, Any]:
    return {"target": target, "index": index, "label": label, "status": "pending",
            "attempts": 0, "last_error": None, "sent_at": None}


def record(
    session: Session, settings: AlertSettings, payload: dict[str, Any], *,
    covers_until: datetime | None = None, now: datetime | None = None,
) -> Alert:
    """Add an alert to ``session`` (the caller's transaction commits it); due at once."""
    now = now or utcnow()
    deliveries = receivers_of(settings)
    alert = Alert(
        kind=payload["alert"], integration_id=payload.get("integration_id"), payload=payload,
        status="pending" if deliveries else "no_receivers", attempts=0, deliveries=deliveries,
        created_at=now, next_attempt_at=now if deliveries else None,
        give_up_at=now + timedelta(seconds=settings.give_up_seconds), covers_until=covers_until,
    )
    session.add(alert)
    session.flush()
    return alert


def due_ids(db: Database, *, now: datetime | None = None, limit: int = 50) -> list[str]:
    now = now or utcnow()
    with db.reading() as session:
        return list(session.scalars(
            select(Alert.id).where(Alert.status == "pending", Alert.next_attempt_at <= now)
            .order_by(Alert.next_attempt_at).limit(limit)
        ))


def claim(db: Database, alert_id: str, *, now: datetime | None = None) -> Alert | None:
    """Take an alert for one delivery attempt, or ``None`` if someone else has it or it is not
    due (a conditional update: only one claimer's row count is 1)."""
    now = now or utcnow()
    with db.session() as session:
        taken = rows_matched(session.execute(
            update(Alert)
            .where(Alert.id == alert_id, Alert.status == "pending", Alert.next_attempt_at <= now)
            .values(attempts=Alert.attempts + 1, next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS))
        ))
        if taken != 1:
            return None
        return session.get(Alert, alert_id)


def save_attempt(
    db: Database, alert_id: str, deliveries: list[dict[str, Any]], *, status: str,
    next_attempt_at: datetime | None, last_error: str | None, sent_at: datetime | None,
) -> None:
    with db.session() as session:
        session.execute(
            update(Alert).where(Alert.id == alert_id).values(
                deliveries=deliveries, status=status, next_attempt_at=next_attempt_at,
                last_error=last_error, sent_at=sent_at,
            )
        )


def latest(session: Session, kind: str, integration_id: str) -> Alert | None:
    return session.scalars(
        select(Alert).where(Alert.kind == kind, Alert.integration_id == integration_id)
        .order_by(Alert.created_at.desc()).limit(1)
    ).first()


# --- conditions (edge-triggered alerts) ---


def active_conditions(session: Session) -> set[str]:
    return set(session.scalars(select(AlertCondition.key)))


def set_condition(session: Session, key: str, alert_id: str | None, now: datetime) -> None:
    session.add(AlertCondition(key=key, since=now, alert_id=alert_id))


def clear_conditions(session: Session, keys: Sequence[str]) -> None:
    if keys:
        session.execute(delete(AlertCondition).where(AlertCondition.key.in_(list(keys))))


# --- listing ---


@dataclass(frozen=True)
class AlertFilter:
    kind: str | None = None
    status: str | None = None
    integration_id: str | None = None


def page(db: Database, filters: AlertFilter, *, limit: int, cursor: str | None) -> tuple[list[Alert], str | None]:
    """Newest first, by (created_at, id); ``cursor`` continues after the last row of a page.
    Raises ``ValueError`` for a cursor this service did not make."""
    query = select(Alert)
    if filters.kind:
        query = query.where(Alert.kind == filters.kind)
    if filters.status:
        query = query.where(Alert.status == filters.status)
    if filters.integration_id:
        query = query.where(Alert.integration_id == filters.integration_id)
    if cursor:
        at, alert_id = decode_cursor(cursor)
        query = query.where((Alert.created_at < at) | ((Alert.created_at == at) & (Alert.id < alert_id)))
    with db.reading() as session:
        rows = list(session.scalars(query.order_by(Alert.created_at.desc(), Alert.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_cursor(rows[-1]) if more and rows else None)


def encode_cursor(alert: Alert) -> str:
    return cursors.encode(alert.created_at, alert.id)


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    return cursors.decode(cursor)
