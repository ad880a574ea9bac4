"""The ops page's read-only views: overview, one event, one integration, auto-suggest."""
from __future__ import annotations

import inspect
from typing import Any

from flask import current_app, render_template, request, url_for

from core.models import EventStatus
from core.runtime import Runtime
from core.store import event_resolution, events, integrations, links
from core.store.events import EventFilter
from webhooks import api_events, api_links
from webhooks.errors import ApiError
from webhooks.ops import blueprint, data, names, throughput, waiting
from webhooks.ops.security import ops_required

PAGE_SIZE = 50
#: The overview reloads itself this often (a meta refresh: no script, the CSP unchanged).
OVERVIEW_REFRESH_SECONDS = 15
#: Statuses after which an event page stops refreshing itself.
SETTLED = EventStatus.final()


def rt() -> Runtime:
    rt: Runtime = current_app.extensions["runtime"]
    return rt


@blueprint.get("")
@ops_required
def overview() -> Any:
    everything = data.active_integrations(rt())
    figures, redis_error = data.queue_figures(rt())
    figures = waiting.with_waiting_events(rt(), figures)
    listing, filter_error = _event_listing()
    return render_template(
        "ops/overview.html", attention=data.needing_attention(everything),
        queues=figures, redis_error=redis_error, counts=data.recent_counts(rt(), everything),
        statuses=data.STATUSES, integrations=everything, names=data.integration_names(rt()),
        running_jobs=data.unfinished_jobs(rt()), filter_error=filter_error, args=request.args, **listing,
        chart=throughput.svg(throughput.per_minute(rt())), chart_legend=throughput.legend(),
        refresh=True, refresh_seconds=OVERVIEW_REFRESH_SECONDS,
    )


def _event_listing() -> tuple[dict[str, Any], str | None]:
    """The filtered page of events; an unusable filter is shown, not a JSON error."""
    try:
        filters = api_events.filters_from(request.args)
        rows, cursor = api_events.page_of_events(filters, limit=PAGE_SIZE, cursor=request.args.get("cursor"))
    except ApiError as error:
        return {"events": [], "older_url": None, "filters": EventFilter(), "superseded": {},
                "org_names": {}}, _describe(error)
    kept: dict[str, Any] = {key: value for key, value in request.args.items() if key != "cursor" and value}
    older = url_for("ops.overview", cursor=cursor, **kept) if cursor else None
    return {"events": rows, "older_url": older, "filters": filters,
            "superseded": event_resolution.superseding(rt().db, rows),
            "org_names": names.organisation_names(rt().db, rows)}, None


def _describe(error: ApiError) -> str:
    details = "; ".join(f"{key}: {', '.join(map(str, value))}" for key, value in (error.fields or {}).items())
    return f"{error.error}: {details}" if details else error.error


@blueprint.get("/events/<event_id>")
@ops_required
def event_page(event_id: str) -> Any:
    event = events.get(rt().db, event_id) if len(event_id) <= 64 else None
    if event is None:
        return render_template("ops/message.html", title="No such event",
                               message=f"There is no event {event_id}."), 404
    integration = integrations.get(rt().db, event.integration_id, include_deleted=True)
    link = links.get(rt().db, event.integration_id, event.organisation_id) if event.organisation_id else None
    return render_template(
        "ops/event.html", event=event, attempts=events.attempts_of(rt().db, [event.id])[event.id],
        integration=integration, link=link, refresh=event.status not in SETTLED,
        superseded_by=event_resolution.superseding(rt().db, [event]).get(event.id),
        org_name=(names.organisation_names(rt().db, [event]).get((event.integration_id, event.organisation_id))
                  if event.organisation_id is not None else None),
        resolved=event_resolution.resolved_since_failure(event),
        source_url=data.source_web_url(integration, event.organisation_id, rt().settings.current_rms_web_url),
    )


@blueprint.get("/integrations/<integration_id>")
@ops_required
def integration_page(integration_id: str) -> Any:
    integration = integrations.get(rt().db, integration_id) if len(integration_id) <= 64 else None
    if integration is None:
        return render_template("ops/message.html", title="No such integration",
                               message=f"There is no integration {integration_id}."), 404
    recent, _ = events.page(rt().db, EventFilter(integration_id=integration.id), limit=10, cursor=None)
    bulk_jobs = data.recent_jobs(rt(), integration.id)
    all_links = links.all_of(rt().db, integration.id)
    return render_template(
        "ops/integration.html", integration=integration, links=all_links,
        broken=[link for link in all_links if link.status == "broken"],
        attention=data.needing_attention([integration]), events=recent,
        names={integration.id: integration.name}, jobs=bulk_jobs, refresh=data.moving(bulk_jobs),
        org_names=names.organisation_names(rt().db, recent),
    )


@blueprint.get("/integrations/<integration_id>/contacts")
@ops_required
def suggest(integration_id: str) -> Any:
    """Auto-suggest for linking by hand: the admin API's contact search, for a signed-in page."""
    return inspect.unwrap(api_links.suggest)(integration_id)  # the view without its Bearer check


@blueprint.get("/replay")
@ops_required
def confirm_replay() -> Any:
    """"Replay all failed": show how many events that is before doing it."""
    filters = failed_filter(request.args)
    count = len(events.ids_matching(rt().db, filters))
    names = data.integration_names(rt())
    return render_template("ops/confirm_replay.html", count=count, filters=filters, names=names)


def failed_filter(args: Any) -> EventFilter:
    chosen = api_events.filters_from({"integration": args.get("integration"), "since": args.get("since")})
    return EventFilter(integration_id=chosen.integration_id, status=EventStatus.FAILED, since=chosen.since)
