"""The detection pass: read the database and the queues, record an alert per new condition.

It needs no hook in the sync path: a sync only writes its event's status, and this pass (run
by the scheduler every ``ALERT_CHECK_SECONDS``) notices what changed. Alerts are recorded in
the same transaction that marks their condition as alerted, so one is never lost nor doubled.

- ``events_failed``: a digest per integration of the events that failed since the last digest
  (its ``covers_until``), at most one per ``ALERT_DIGEST_MINUTES``.
- ``integration_reconnect_needed``, ``webhooks_unregistered``, ``links_broken``,
  ``queue_stalled``: edge-triggered: one alert when the condition starts; another only after
  it has cleared and come back.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.alert_settings import AlertSettings
from core.alerts import reasons as reason_patterns
from core.alerts import store
from core.models import EventStatus, IntegrationStatus
from core.runtime import Runtime
from core.tables import Alert, Event, Integration, Link, utcnow

log = structlog.get_logger(__name__)

#: A first digest looks back this far (events that failed before alerts were set up).
FIRST_DIGEST_LOOKBACK = timedelta(hours=24)
#: Reasons listed in one alert, most frequent first.
MAX_REASONS = 5
#: A new integration has this long to register its webhooks before it is alerted about.
REGISTRATION_GRACE = timedelta(minutes=10)


@dataclass(frozen=True)
class Condition:
    key: str
    payload: dict[str, Any]


def run_pass(rt: Runtime, settings: AlertSettings, *, now: datetime | None = None) -> list[str]:
    """Record the alerts that are due now; returns their ids."""
    now = now or utcnow()
    stalled = _stalled_queues(rt, settings)
    recorded: list[str] = []
    with rt.db.session() as session:
        everything = list(session.scalars(select(Integration).where(Integration.deleted_at.is_(None))))
        for integration in everything:
            alert = _failed_digest(session, rt, settings, integration, now)
            if alert is not None:
                recorded.append(alert.id)
        conditions = [*_integration_conditions(session, rt, everything, now), *stalled]
        recorded.extend(_edge_trigger(session, settings, conditions, now))
    if recorded:
        log.info("alerts recorded", count=len(recorded))
    return recorded


# --- events_failed: a digest ---


def _failed_digest(
    session: Session, rt: Runtime, settings: AlertSettings, integration: Integration, now: datetime,
) -> Alert | None:
    previous = store.latest(session, "events_failed", integration.id)
    if previous is not None and previous.created_at > now - timedelta(minutes=settings.digest_minutes):
        return None
    after = previous.covers_until if previous is not None and previous.covers_until else now - FIRST_DIGEST_LOOKBACK
    rows = session.execute(
        select(Event.outcome, Event.last_error, Event.finished_at).where(
            Event.integration_id == integration.id, Event.status == EventStatus.FAILED, Event.finished_at > after,
        )
    ).all()
    if not rows:
        return None
    # The plain-language reason the sync recorded, else the raw error.
    grouped = Counter(reason_patterns.pattern_of((outcome or {}).get("reason") or error)
                      for outcome, error, _ in rows)
    reasons = [f"{count} × {reason}" if count > 1 else reason for reason, count in grouped.most_common(MAX_REASONS)]
    count = len(rows)
    minutes = settings.digest_minutes
    text = (f"{integration.name}: {count} event{'s' if count > 1 else ''} failed "
            f"(digest, at most one every {minutes} min). " + "; ".join(reasons))
    payload = _payload("events_failed", integration, count, reasons,
                       f"{_public(rt)}/ops?integration={integration.id}&status=failed", text)
    return store.record(session, settings, payload, covers_until=max(at for _, _, at in rows), now=now)


# --- edge-triggered conditions ---


def _integration_conditions(
    session: Session, rt: Runtime, everything: list[Integration], now: datetime,
) -> list[Condition]:
    found = []
    broken = _broken_links(session)
    for integration in everything:
        page = f"{_public(rt)}/ops/integrations/{integration.id}"
        if integration.status == IntegrationStatus.RECONNECT_NEEDED:
            reason = integration.status_reason or "the accounting system refused the stored credentials"
            found.append(Condition(
                f"integration_reconnect_needed:{integration.id}",
                _payload("integration_reconnect_needed", integration, 1, [reason], page,
                         f"{integration.name} needs reconnecting: {reason}. Connect it again from {page}"),
            ))
        if (integration.status != IntegrationStatus.DISABLED and not integration.webhooks_registered
                and (integration.webhook_error or integration.created_at < now - REGISTRATION_GRACE)):
            reason = integration.webhook_error or "the rental system's webhooks are not registered"
            found.append(Condition(
                f"webhooks_unregistered:{integration.id}",
                _payload("webhooks_unregistered", integration, 1, [reason], page,
                         f"{integration.name}: webhooks are not registered ({reason}); "
                         f"edits reach the service only through the reconciliation poll. Register them from {page}"),
            ))
        count = broken.get(integration.id, 0)
        if count:
            found.append(Condition(
                f"links_broken:{integration.id}",
                _payload("links_broken", integration, count,
                         [f"{count} linked contact{'s are' if count > 1 else ' is'} archived or deleted"], page,
                         f"{integration.name}: {count} link{'s are' if count > 1 else ' is'} broken "
                         f"(the contact was archived or deleted). See {page}"),
            ))
    return found


def _broken_links(session: Session) -> dict[str, int]:
    """Broken links per integration. Links carry ``status`` (``ok`` | ``broken``) once the
    contact-change work has landed (interface §10); until then there are none to count."""
    status = getattr(Link, "status", None)
    if status is None:
        return {}
    rows = session.execute(
        select(Link.integration_id, func.count()).where(status == "broken").group_by(Link.integration_id)
    ).all()
    return {integration_id: int(count) for integration_id, count in rows}


def _stalled_queues(rt: Runtime, settings: AlertSettings) -> list[Condition]:
    from webhooks import queues

    try:
        figures = queues.all_stats(rt)
    except queues.QueuesUnknown:
        return []  # the broker is down: a stalled queue is judged when it answers
    found = []
    for queue in figures:
        age = queue.oldest_age_seconds
        if age is not None and age > settings.stalled_seconds:
            minutes = int(age // 60)
            text = (f"Queue {queue.name} is stalled: its oldest message has waited {minutes} min "
                    f"({queue.depth} waiting). Is a worker running? {_public(rt)}/ops")
            found.append(Condition(f"queue_stalled:{queue.name}", {
                "alert": "queue_stalled", "integration_id": None, "integration_name": None,
                "count": queue.depth, "reasons": [f"queue {queue.name}: oldest message {minutes} min old"],
                "ops_url": f"{_public(rt)}/ops", "text": text,
            }))
    return found


def _edge_trigger(
    session: Session, settings: AlertSettings, conditions: list[Condition], now: datetime,
) -> list[str]:
    active = store.active_conditions(session)
    current = {condition.key for condition in conditions}
    recorded = []
    for condition in conditions:
        if condition.key in active:
            continue
        alert = store.record(session, settings, condition.payload, now=now)
        store.set_condition(session, condition.key, alert.id, now)
        recorded.append(alert.id)
    store.clear_conditions(session, sorted(active - current))
    return recorded


def _payload(kind: str, integration: Integration, count: int, reasons: list[str], ops_url: str, text: str) -> dict[str, Any]:
    return {
        "alert": kind, "integration_id": integration.id, "integration_name": integration.name,
        "count": count, "reasons": reasons, "ops_url": ops_url, "text": text,
    }


def _public(rt: Runtime) -> str:
    return rt.settings.public_url.rstrip("/")
