"""``/api/events``: list with filters and cursor paging, show, replay one or many (CONTRACT §6)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, request

from core.runtime import Runtime
from core.store import events
from core.store.events import EventFilter
from webhooks.api_integrations import load
from webhooks.auth import admin_required
from webhooks.errors import ApiError
from webhooks.schemas import ReplayFilterSchema
from webhooks.views import event_view, json_body
from workers import replay

blueprint = Blueprint("api_events", __name__, url_prefix="/api/events")

STATUSES = ("queued", "processing", "retrying", "succeeded", "skipped", "failed")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def _rt() -> Runtime:
    return current_app.extensions["runtime"]


@blueprint.get("")
@admin_required
def list_events() -> dict[str, Any]:
    filters = filters_from(request.args)
    limit = _int_arg("limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    try:
        rows, next_cursor = events.page(_rt().db, filters, limit=limit, cursor=request.args.get("cursor"))
    except ValueError:
        raise ApiError(400, "invalid query", fields={"cursor": ["not a cursor this service made"]}) from None
    history = events.attempts_of(_rt().db, [row.id for row in rows])
    return {"events": [event_view(row, history[row.id]) for row in rows], "next_cursor": next_cursor}


def filters_from(args: Any) -> EventFilter:
    """The filters of ``GET /api/events`` (also used by the ops page and the CLI)."""
    status = args.get("status") or None
    if status is not None and status not in STATUSES:
        raise ApiError(400, "invalid query", fields={"status": [f"one of {', '.join(STATUSES)}"]})
    organisation = args.get("organisation_id") or None
    if organisation is not None and (not organisation.isdigit() or len(organisation) > 19):
        raise ApiError(400, "invalid query", fields={"organisation_id": ["must be a positive integer"]})
    return EventFilter(
        integration_id=args.get("integration") or None, status=status,
        organisation_id=int(organisation) if organisation else None,
        since=_time_arg(args, "since"), until=_time_arg(args, "until"),
    )


def _time_arg(args: Any, name: str) -> datetime | None:
    raw = args.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "invalid query", fields={name: ["must be an ISO 8601 time"]}) from None
    if value.tzinfo is None:
        raise ApiError(400, "invalid query", fields={name: ["must carry a time zone (Z or +hh:mm)"]})
    return value


def _int_arg(name: str, default: int, *, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(400, "invalid query", fields={name: [f"must be an integer from {low} to {high}"]})
    return int(raw)


@blueprint.get("/<event_id>")
@admin_required
def show(event_id: str) -> dict[str, Any]:
    event = events.get(_rt().db, event_id) if len(event_id) <= 64 else None
    if event is None:
        raise ApiError(404, "no such event")
    return event_view(event, events.attempts_of(_rt().db, [event.id])[event.id])


@blueprint.post("/<event_id>/replay")
@admin_required
def replay_one(event_id: str) -> tuple[dict[str, Any], int]:
    event = events.get(_rt().db, event_id) if len(event_id) <= 64 else None
    if event is None:
        raise ApiError(404, "no such event")
    status = replay.replay_event(_rt(), event.id)
    return {"event_id": event.id, "status": status}, 202


@blueprint.post("/replay")
@admin_required
def replay_many() -> tuple[dict[str, Any], int]:
    data = load(ReplayFilterSchema(), json_body())
    filters = EventFilter(integration_id=data.get("integration"), status=data["status"],
                          since=data.get("since"))
    return {"replayed": replay.replay_matching(_rt(), filters)}, 202
