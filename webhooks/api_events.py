"""``/api/events``: list with filters and cursor paging, show, replay one or many (interface §6)."""
from __future__ import annotations

import re
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from flask import Blueprint, request

from core import cursors
from core.models import EventStatus
from core.store import event_resolution, events
from core.store.events import EventFilter
from webhooks.api_integrations import load
from webhooks.app_runtime import app_runtime
from webhooks.auth import admin_required
from webhooks.errors import ApiError
from webhooks.schemas import ReplayFilterSchema
from webhooks.views import event_view, json_body
from workers import replay

blueprint = Blueprint("api_events", __name__, url_prefix="/api/events")

#: Plain strings (click and the query validation list them as they are written).
STATUSES = tuple(status.value for status in EventStatus)
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
#: The largest organisation id a database BIGINT holds.
MAX_ORGANISATION_ID = 2**63 - 1
#: The times the filters accept: ISO 8601 with a zone, years 1970-2999, real calendar days (no
#: 29 February: one regular expression cannot know leap years), minutes, optional seconds and
#: fraction. The OpenAPI document gives the same pattern, so what it calls valid is accepted.
TIME_PATTERN = (
    r"^(19[7-9][0-9]|2[0-9]{3})-"
    r"((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))"
    r"T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)




@blueprint.get("")
@admin_required
def list_events() -> dict[str, Any]:
    filters = filters_from(request.args)
    limit = _int_arg("limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    rows, next_cursor = page_of_events(filters, limit=limit, cursor=request.args.get("cursor"))
    history = events.attempts_of(app_runtime().db, [row.id for row in rows])
    later = event_resolution.superseding(app_runtime().db, rows)
    return {"events": [event_view(row, history[row.id], later.get(row.id)) for row in rows],
            "next_cursor": next_cursor}


def page_of_events(filters: EventFilter, *, limit: int, cursor: str | None) -> tuple[list[Any], str | None]:
    """A page of events; cursors are ``core.cursors`` positions (400 for another shape)."""
    position = None
    if cursor:
        try:
            at, event_id = cursors.decode(cursor)
        except ValueError:
            raise ApiError(400, "invalid query", fields={"cursor": ["not a cursor this service made"]}) from None
        position = events.encode_cursor(SimpleNamespace(received_at=at, id=event_id))  # type: ignore[arg-type]
    rows, store_next = events.page(app_runtime().db, filters, limit=limit, cursor=position)
    return rows, (cursors.encode(rows[-1].received_at, rows[-1].id) if store_next and rows else None)


def filters_from(args: Any) -> EventFilter:
    """The filters of ``GET /api/events`` (also used by the ops page and the CLI)."""
    status = args.get("status") or None
    if status is not None and status not in STATUSES:
        raise ApiError(400, "invalid query", fields={"status": [f"one of {', '.join(STATUSES)}"]})
    organisation = args.get("organisation_id") or None
    if organisation is not None and not (organisation.isascii() and organisation.isdigit()
                                         and 1 <= int(organisation) <= MAX_ORGANISATION_ID):
        raise ApiError(400, "invalid query", fields={"organisation_id": ["must be a positive integer"]})
    attention = args.get("needs_attention") or "false"
    if attention not in ("true", "false"):
        raise ApiError(400, "invalid query", fields={"needs_attention": ["true or false"]})
    kind = event_resolution.AttentionFilter if attention == "true" else EventFilter
    return kind(
        integration_id=args.get("integration") or None, status=status,
        organisation_id=int(organisation) if organisation else None,
        since=_time_arg(args, "since"), until=_time_arg(args, "until"),
    )


def _time_arg(args: Any, name: str) -> datetime | None:
    raw = args.get(name)
    if not raw:
        return None
    if not re.fullmatch(TIME_PATTERN, raw):
        raise ApiError(400, "invalid query", fields={name: [
            "must be an ISO 8601 time from 1970 with its zone, e.g. 2026-01-31T09:00Z"]})
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))


def _int_arg(name: str, default: int, *, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise ApiError(400, "invalid query", fields={name: [f"must be an integer from {low} to {high}"]})
    return int(raw)


@blueprint.get("/<string(length=32):event_id>")
@admin_required
def show(event_id: str) -> dict[str, Any]:
    event = events.get(app_runtime().db, event_id)
    if event is None:
        raise ApiError(404, "no such event")
    return full_view(event)


def full_view(event: Any) -> dict[str, Any]:
    later = event_resolution.superseding(app_runtime().db, [event])
    return event_view(event, events.attempts_of(app_runtime().db, [event.id])[event.id], later.get(event.id))


@blueprint.post("/<string(length=32):event_id>/resolve")
@admin_required
def resolve(event_id: str) -> dict[str, Any]:
    """A person has dealt with a failed event: it leaves "needs attention" (interface §6)."""
    body = json_body(required=False)
    unknown = sorted(set(body) - {"note"})
    note = body.get("note")
    if unknown:
        raise ApiError(400, "invalid body", fields={key: ["unknown field"] for key in unknown})
    if note is not None and (not isinstance(note, str) or len(note) > event_resolution.MAX_NOTE):
        raise ApiError(400, "invalid body", fields={"note": [f"text of at most {event_resolution.MAX_NOTE} characters"]})
    event = events.get(app_runtime().db, event_id)
    if event is None:
        raise ApiError(404, "no such event")
    resolved = event_resolution.resolve(app_runtime().db, event.id, note.strip() or None if note else None)
    if resolved is None:
        raise ApiError(409, f"only a failed event can be resolved; this one is {event.status}")
    return full_view(resolved)


@blueprint.post("/<string(length=32):event_id>/replay")
@admin_required
def replay_one(event_id: str) -> tuple[dict[str, Any], int]:
    event = events.get(app_runtime().db, event_id)
    if event is None:
        raise ApiError(404, "no such event")
    status = replay.replay_event(app_runtime(), event.id)
    return {"event_id": event.id, "status": status}, 202


@blueprint.post("/replay")
@admin_required
def replay_many() -> tuple[dict[str, Any], int]:
    data = load(ReplayFilterSchema(), json_body(required=False))
    filters = EventFilter(integration_id=data.get("integration"), status=data["status"],
                          since=data.get("since"))
    return {"replayed": replay.replay_matching(app_runtime(), filters)}, 202
