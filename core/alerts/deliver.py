"""One delivery pass: send each due alert to the receivers it still owes, then decide its
next attempt (doubling from ``ALERT_RETRY_MIN_SECONDS``) or, 24 hours after it was recorded,
give up. A receiver that answered is never sent the same alert again."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog

from core.alert_settings import AlertSettings
from core.alerts import send, store
from core.backoff import backoff
from core.db import Database
from core.tables import Alert, utcnow

log = structlog.get_logger(__name__)


def deliver_due(db: Database, settings: AlertSettings, *, limit: int = 50) -> int:
    """Deliver every alert due now; returns how many were fully sent."""
    sent = 0
    for alert_id in store.due_ids(db, limit=limit):
        alert = store.claim(db, alert_id)
        if alert is not None and deliver(db, settings, alert) == "sent":
            sent += 1
    return sent


def deliver(db: Database, settings: AlertSettings, alert: Alert) -> str:
    """One attempt at a claimed alert; returns its new status."""
    deliveries = [dict(entry) for entry in alert.deliveries]
    for entry in deliveries:
        if entry["status"] == "sent":
            continue
        entry["attempts"] = int(entry.get("attempts", 0)) + 1
        try:
            _send_one(settings, entry, alert.payload)
        except send.DeliveryFailed as error:
            entry["last_error"] = str(error)
            log.warning("alert delivery failed", alert_id=alert.id, target=entry["target"],
                        receiver=entry["label"], error=str(error))
        else:
            entry["status"], entry["last_error"], entry["sent_at"] = "sent", None, utcnow().isoformat()
    now = utcnow()
    owed = [entry for entry in deliveries if entry["status"] != "sent"]
    if not owed:
        status, next_at, last_error = "sent", None, None
    elif alert.give_up_at is not None and now + _backoff(settings, alert.attempts) > alert.give_up_at:
        status, next_at = "failed", None
        last_error = "; ".join(f"{e['target']} {e['label']}: {e['last_error']}" for e in owed)
        for entry in owed:
            entry["status"] = "failed"
    else:
        status, next_at = "pending", now + _backoff(settings, alert.attempts)
        last_error = "; ".join(f"{e['target']} {e['label']}: {e['last_error']}" for e in owed)
    store.save_attempt(db, alert.id, deliveries, status=status, next_attempt_at=next_at,
                       last_error=last_error, sent_at=now if status == "sent" else None)
    return status


def _send_one(settings: AlertSettings, entry: dict[str, Any], payload: dict[str, Any]) -> None:
    if entry["target"] == "webhook":
        index = int(entry["index"])
        if index >= len(settings.webhook_urls):
            raise send.DeliveryFailed("this receiver is no longer in ALERT_WEBHOOK_URLS")
        send.send_webhook(settings, settings.webhook_urls[index], payload)
    elif entry["target"] == "email":
        send.send_email(settings, payload)
    else:
        raise send.DeliveryFailed(f"unknown receiver kind {entry['target']!r}")


def _backoff(settings: AlertSettings, attempts: int) -> timedelta:
    return timedelta(seconds=backoff(attempts, low=settings.retry_min_seconds, high=settings.retry_max_seconds))

