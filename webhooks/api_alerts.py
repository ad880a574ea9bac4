"""``GET /api/alerts``: the alerts recorded, newest first, with their delivery status (interface §12)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, request

from core.alerts import DELIVERY_STATUSES, KINDS, store
from core.tables import Alert
from webhooks.auth import admin_required
from webhooks.errors import ApiError
from webhooks.views import iso

blueprint = Blueprint("api_alerts", __name__, url_prefix="/api/alerts")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@blueprint.get("")
@admin_required
def list_alerts() -> dict[str, Any]:
    args = request.args
    kind, status = args.get("alert") or None, args.get("status") or None
    if kind is not None and kind not in KINDS:
        raise ApiError(400, "invalid query", fields={"alert": [f"one of {', '.join(KINDS)}"]})
    if status is not None and status not in DELIVERY_STATUSES:
        raise ApiError(400, "invalid query", fields={"status": [f"one of {', '.join(DELIVERY_STATUSES)}"]})
    raw_limit = args.get("limit") or str(DEFAULT_LIMIT)
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise ApiError(400, "invalid query", fields={"limit": [f"must be an integer from 1 to {MAX_LIMIT}"]})
    filters = store.AlertFilter(kind=kind, status=status, integration_id=args.get("integration") or None)
    try:
        rows, cursor = store.page(current_app.extensions["runtime"].db, filters,
                                  limit=int(raw_limit), cursor=args.get("cursor") or None)
    except ValueError:
        raise ApiError(400, "invalid query", fields={"cursor": ["not a cursor this service made"]}) from None
    return {"alerts": [alert_view(row) for row in rows], "next_cursor": cursor}


def alert_view(alert: Alert) -> dict[str, Any]:
    """The alert as sent, plus how its delivery went."""
    return {
        "id": alert.id,
        **alert.payload,
        "created_at": iso(alert.created_at),
        "delivery": {
            "status": alert.status,
            "attempts": alert.attempts,
            "next_attempt_at": iso(alert.next_attempt_at),
            "give_up_at": iso(alert.give_up_at),
            "sent_at": iso(alert.sent_at),
            "last_error": alert.last_error,
            "receivers": [
                {key: entry.get(key) for key in ("target", "label", "status", "attempts", "last_error", "sent_at")}
                for entry in alert.deliveries
            ],
        },
    }
