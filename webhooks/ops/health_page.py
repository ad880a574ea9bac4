"""``/ops/integrations/<id>/health``: one connection's health (HubSpot's "sync health").

Counts (linked, seen but not linked, failing, broken links), then the failing events grouped
by reason with the reason's identifiers taken out (``core.alerts.reasons``), so that alike
failures group together: each group with its count, first and last seen, its events (with
links to the organisation and the contact) and one action, replay the group.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from core.alerts.reasons import pattern_of
from core.models import EventStatus
from core.store import event_resolution, integrations, links
from core.tables import Event, Integration, Link
from webhooks.ops import blueprint, data, names
from webhooks.ops.pages import rt
from webhooks.ops.security import ops_required
from workers import replay

#: Failing events read for the grouping (the oldest beyond it are left out, and it says so).
MAX_FAILING = 5000
#: Events listed under each group.
SHOWN_PER_GROUP = 50


@dataclass
class FailureGroup:
    pattern: str
    events: list[Event] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.events)

    @property
    def first_seen(self) -> datetime | None:
        return min((e.finished_at or e.received_at for e in self.events), default=None)

    @property
    def last_seen(self) -> datetime | None:
        return max((e.finished_at or e.received_at for e in self.events), default=None)


def reason_of(event: Event) -> str | None:
    return (event.outcome or {}).get("reason") or event.last_error


def failing_events(integration_id: str) -> list[Event]:
    """The integration's events that need attention (failed, neither resolved nor superseded)."""
    filters = event_resolution.AttentionFilter(integration_id=integration_id)
    with rt().db.reading() as session:
        return list(session.scalars(
            select(Event).where(*filters.clauses()).order_by(Event.received_at.desc()).limit(MAX_FAILING)))


def groups_of(failing: list[Event]) -> list[FailureGroup]:
    grouped: dict[str, FailureGroup] = {}
    for event in failing:
        pattern = pattern_of(reason_of(event))
        grouped.setdefault(pattern, FailureGroup(pattern)).events.append(event)
    return sorted(grouped.values(), key=lambda g: (-g.count, g.pattern))


def counts(integration: Integration, failing: list[Event]) -> dict[str, Any]:
    with rt().db.reading() as session:
        linked = session.scalar(select(func.count()).select_from(Link).where(Link.integration_id == integration.id))
        seen = set(session.scalars(select(Event.organisation_id).distinct().where(
            Event.integration_id == integration.id, Event.organisation_id.is_not(None))))
        linked_ids = set(links.contact_ids_by_organisation(rt().db, integration.id))
        status = getattr(Link, "status", None)
        broken = (session.scalar(select(func.count()).select_from(Link).where(
            Link.integration_id == integration.id, status == "broken")) if status is not None else None)
    return {"linked": int(linked or 0), "unlinked": len(seen - linked_ids),
            "failing": len({e.organisation_id for e in failing}), "broken": broken}


@blueprint.get("/integrations/<integration_id>/health")
@ops_required
def health_page(integration_id: str) -> Any:
    integration = integrations.get(rt().db, integration_id) if len(integration_id) <= 64 else None
    if integration is None:
        return render_template("ops/message.html", title="No such integration",
                               message=f"There is no integration {integration_id}."), 404
    failing = failing_events(integration.id)
    grouped = groups_of(failing)
    shown = [e for g in grouped for e in g.events[:SHOWN_PER_GROUP]]
    linked = {link.organisation_id: link for link in links.all_of(rt().db, integration.id)}
    return render_template(
        "ops/health.html", integration=integration, counts=counts(integration, failing), groups=grouped,
        shown_per_group=SHOWN_PER_GROUP, capped=len(failing) >= MAX_FAILING, links=linked,
        org_names=names.organisation_names(rt().db, shown),
        source_url=lambda organisation_id: data.source_web_url(integration, organisation_id, rt().settings.current_rms_web_url),
    )


@blueprint.post("/integrations/<integration_id>/health/replay")
@ops_required
def replay_group(integration_id: str) -> Any:
    integration = integrations.get(rt().db, integration_id) if len(integration_id) <= 64 else None
    if integration is None:
        flash(f"There is no integration {integration_id}.", "error")
        return redirect(url_for("ops.overview"))
    pattern = request.form.get("pattern", "")
    group = next((g for g in groups_of(failing_events(integration.id)) if g.pattern == pattern), None)
    replayed = sum(replay.replay_event(rt(), event.id) == EventStatus.QUEUED for event in (group.events if group else []))
    flash(f"{replayed} event{'s' if replayed != 1 else ''} of “{pattern}” queued again." if group
          else "That group has no failing event any more.", "ok" if group else "warning")
    return redirect(url_for("ops.health_page", integration_id=integration.id))
