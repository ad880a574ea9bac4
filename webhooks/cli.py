"""Command line for operators who live in a terminal (interface §6: ``flask events ...``).

``flask --app webhooks.wsgi events list|show|replay``, ``flask integrations list`` and
``flask keys rotate``, with the same filters as ``GET /api/events``. ``--json`` prints what
the API would answer, for scripts.
"""
from __future__ import annotations

import json
import sys
from typing import Any

import click
import structlog
from flask import Flask
from flask.cli import AppGroup

from core.models import EventStatus
from core.store import events, integrations
from core.store.events import EventFilter
from webhooks import api_events
from webhooks.app_runtime import app_runtime
from webhooks.errors import ApiError
from webhooks.ops import formatting
from webhooks.views import event_view, integration_view
from workers import replay


def _diagnostics_to_stderr() -> None:
    """Results on stdout, log lines on stderr, so ``--json`` output can be piped to jq. (In a
    process that has logged already, loggers bound to stdout keep it: structlog caches them.)"""
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))


@click.group("events", cls=AppGroup)
def events_cli() -> None:
    """List, show and replay events."""
    _diagnostics_to_stderr()


@click.group("integrations", cls=AppGroup)
def integrations_cli() -> None:
    """List integrations."""
    _diagnostics_to_stderr()


@click.group("keys", cls=AppGroup)
def keys_cli() -> None:
    """Encryption keys."""
    _diagnostics_to_stderr()

STATUSES = click.Choice(api_events.STATUSES)
#: What `events replay --status` may pick (plain strings: click lists them as written).
REPLAY_STATUSES = tuple(status.value for status in (EventStatus.FAILED, EventStatus.RETRYING,
                                                     EventStatus.SKIPPED, EventStatus.SUCCEEDED))


def init_app(app: Flask) -> None:
    for group in (events_cli, integrations_cli, keys_cli):
        app.cli.add_command(group)




def _filters(**given: Any) -> EventFilter:
    """The API's own parsing of the filters, so the CLI accepts and refuses exactly the same."""
    args = {key: str(value) for key, value in given.items() if value not in (None, "")}
    try:
        return api_events.filters_from(args)
    except ApiError as error:
        problems = "; ".join(f"--{k.replace('_', '-')}: {', '.join(v)}" for k, v in (error.fields or {}).items())
        raise click.UsageError(problems or error.error) from None


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def filter_options(function: Any) -> Any:
    for option in reversed((
        click.option("--integration", help="integration id"),
        click.option("--status", type=STATUSES),
        click.option("--organisation", "organisation_id", help="Current RMS organisation id"),
        click.option("--since", help="ISO time with zone, e.g. 2026-01-31T00:00Z"),
        click.option("--until", help="ISO time with zone"),
    )):
        function = option(function)
    return function


@events_cli.command("list")
@filter_options
@click.option("--limit", type=click.IntRange(1, api_events.MAX_LIMIT), default=api_events.DEFAULT_LIMIT, show_default=True)
@click.option("--cursor", help="next_cursor of the previous page")
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON")
def list_events(limit: int, cursor: str | None, as_json: bool, **given: Any) -> None:
    """Events, newest first."""
    try:
        rows, next_cursor = events.page(app_runtime().db, _filters(**given), limit=limit, cursor=cursor)
    except ValueError:
        raise click.UsageError("--cursor: not a cursor this service made") from None
    if as_json:
        history = events.attempts_of(app_runtime().db, [row.id for row in rows])
        _print_json({"events": [event_view(r, history[r.id]) for r in rows], "next_cursor": next_cursor})
        return
    for row in rows:
        click.echo("  ".join((
            row.id, formatting.when(row.received_at), f"{row.status:<10}", f"org {row.organisation_id or '-':<8}",
            f"tries {row.attempts}", formatting.summary(row),
        )))
    if not rows:
        click.echo("no events match")
    if next_cursor:
        click.echo(f"more: --cursor {next_cursor}")


@events_cli.command("show")
@click.argument("event_id")
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON")
def show_event(event_id: str, as_json: bool) -> None:
    """One event: outcome, last error, attempts and payload."""
    event = events.get(app_runtime().db, event_id)
    if event is None:
        raise click.ClickException(f"no event {event_id}")
    view = event_view(event, events.attempts_of(app_runtime().db, [event.id])[event.id])
    if as_json:
        _print_json(view)
        return
    for key in ("id", "integration_id", "organisation_id", "kind", "status", "attempts", "received_at", "finished_at"):
        click.echo(f"{key:<16}{view[key]}")
    click.echo(f"{'reason':<16}{(view['outcome'] or {}).get('reason') or '-'}")
    click.echo(f"{'last_error':<16}{view['last_error'] or '-'}")
    for attempt in view["attempt_history"]:
        click.echo(f"attempt {attempt['number']}: {attempt['status']} {attempt['finished_at'] or ''} {attempt['error'] or ''}".rstrip())
    click.echo("outcome " + json.dumps(view["outcome"], ensure_ascii=False))
    click.echo("payload " + json.dumps(view["payload"], ensure_ascii=False))


@events_cli.command("replay")
@click.argument("event_id", required=False)
@click.option("--integration", help="replay every matching event of this integration")
@click.option("--status", type=click.Choice(REPLAY_STATUSES), default="failed",
              show_default=True, help="retrying: run those events now instead of at their next attempt")
@click.option("--since", help="only events received since this ISO time")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def replay_events(event_id: str | None, integration: str | None, status: str, since: str | None, yes: bool) -> None:
    """Replay one event (EVENT_ID), or every event matching the filter (failed by default)."""
    if event_id:
        if events.get(app_runtime().db, event_id) is None:
            raise click.ClickException(f"no event {event_id}")
        click.echo(f"{event_id} {replay.replay_event(app_runtime(), event_id)}")
        return
    chosen = _filters(integration=integration, since=since)
    filters = EventFilter(integration_id=chosen.integration_id, status=status, since=chosen.since)
    count = len(events.ids_matching(app_runtime().db, filters))
    if not count:
        click.echo("replayed 0 events (none match)")
        return
    if not yes:
        click.confirm(f"Replay {count} {status} event{'s' if count != 1 else ''}?", abort=True)
    click.echo(f"replayed {replay.replay_matching(app_runtime(), filters)} events")


@integrations_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON")
def list_integrations(as_json: bool) -> None:
    """Every integration, with what needs attention."""
    rows = integrations.all_active(app_runtime().db)
    if as_json:
        _print_json({"integrations": [integration_view(row) for row in rows]})
        return
    for row in rows:
        hooks = "webhooks ok" if row.webhooks_registered else "WEBHOOKS NOT REGISTERED"
        reason = f" ({row.status_reason})" if row.status_reason else ""
        click.echo(f"{row.id}  {row.provider_kind:<10} {row.status:<16} {hooks:<24} {row.name}{reason}")
    if not rows:
        click.echo("no integrations")


@keys_cli.command("rotate")
def rotate_keys() -> None:
    """Re-encrypt every integration's secrets with the first ENCRYPTION_KEY (then the old
    keys can be removed from ENCRYPTION_KEY)."""
    count = integrations.reseal_all(app_runtime().db, app_runtime().vault)
    click.echo(f"re-encrypted the secrets of {count} integration{'s' if count != 1 else ''}")
