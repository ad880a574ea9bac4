"""The ops page's resolve and "retry now" actions (interface §6): a failed event dealt with by a
person leaves "needs attention"; retrying events run at once (Sidekiq's Retries page)."""
from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for

from core.models import EventStatus
from core.store import event_resolution, events
from webhooks import api_events
from webhooks.errors import ApiError
from webhooks.ops import blueprint
from webhooks.ops.pages import rt
from webhooks.ops.security import ops_required
from workers import replay


@blueprint.post("/events/<event_id>/resolve")
@ops_required
def resolve_one(event_id: str) -> Any:
    note = (request.form.get("note") or "").strip()[:event_resolution.MAX_NOTE] or None
    event = events.get(rt().db, event_id)
    if event is None:
        flash(f"There is no event {event_id}.", "error")
        return redirect(url_for("ops.overview"))
    if event_resolution.resolve(rt().db, event.id, note) is None:
        flash(f"Not resolved: only a failed event can be, and this one is {event.status}.", "warning")
    else:
        flash("Resolved: the event no longer needs attention.", "ok")
    return redirect(url_for("ops.event_page", event_id=event.id))


@blueprint.post("/retry-now")
@ops_required
def retry_now() -> Any:
    try:
        chosen = api_events.filters_from({"integration": request.form.get("integration")})
    except ApiError:
        chosen = api_events.filters_from({})
    count = replay.retry_now(rt(), chosen)
    flash(f"{count} retrying event{'s' if count != 1 else ''} running now "
          "(a rate limit the accounting system announced still holds).", "ok")
    target: dict[str, Any] = {"status": EventStatus.RETRYING.value, "integration": chosen.integration_id or ""}
    return redirect(url_for("ops.overview", **{k: v for k, v in target.items() if v}) + "#events")
