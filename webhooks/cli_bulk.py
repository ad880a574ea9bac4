"""``flask links export|import`` and ``flask bulk export|import``, with a progress bar.

Jobs go to the bulk queue like the API's (a worker runs them) unless ``--here`` runs them in
this process; either way the bar follows the job's row, so it shows the same progress as
``GET /api/jobs/<id>``. ``--no-wait`` prints the job id and returns at once.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup

from core.models import JobStatus
from core.store import integrations, jobs
from core.tables import Integration
from providers import factory
from providers.registry import provider_class
from webhooks.app_runtime import app_runtime
from workers.bulk import jobs as bulk_jobs
from workers.bulk.csv_export import link_rows
from workers.bulk.csv_format import CsvRefused, read_rows, write_lines
from workers.bulk.csv_job import ANSWER_AT_ONCE, link_from_csv, rows_state

links_cli = AppGroup("links", help="Links as CSV: export them, import them.")
bulk_cli = AppGroup("bulk", help="Export organisations to, or import contacts from, the accounting system.")

#: Seconds between two looks at the job while the bar is shown.
POLL_SECONDS = 0.5


def init_app(app: Flask) -> None:
    app.cli.add_command(links_cli)
    app.cli.add_command(bulk_cli)




def _integration(integration_id: str) -> Integration:
    integration = integrations.get(app_runtime().db, integration_id)
    if integration is None:
        raise click.ClickException(f"no integration {integration_id}")
    return integration


@links_cli.command("export")
@click.argument("integration_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (default: standard output).")
def links_export(integration_id: str, output: Path | None) -> None:
    """Write every active organisation with its link as CSV."""
    integration = _integration(integration_id)
    column = provider_class(integration.provider_kind).csv_column
    rows = link_rows(factory.rental_system(app_runtime(), integration), app_runtime().db, integration.id)
    target = output.open("w", encoding="utf-8", newline="") if output else None
    try:
        for line in write_lines(column, rows):
            click.echo(line, file=target, nl=False)
    finally:
        if target is not None:
            target.close()


@links_cli.command("import")
@click.argument("integration_id")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check every row and change nothing.")
@click.option("--here", is_flag=True, help="Run a large file's job in this process.")
@click.option("--wait/--no-wait", default=True, help="Follow a large file's job to its end.")
def links_import(integration_id: str, csv_file: Path, dry_run: bool, here: bool, wait: bool) -> None:
    """Set links from a CSV (the rental system's export with the link column added)."""
    integration = _integration(integration_id)
    try:
        rows = read_rows(csv_file.read_bytes(), provider_class(integration.provider_kind).csv_column)
    except CsvRefused as refused:
        raise click.ClickException(refused.message) from None
    if len(rows) <= ANSWER_AT_ONCE:
        provider = factory.accounting_provider(app_runtime(), integration)
        outcome = link_from_csv(provider, app_runtime().db, integration.id, rows, dry_run=dry_run)
        click.echo(json.dumps(outcome.to_dict(), indent=2))
        return
    state = rows_state(rows, dry_run=dry_run)
    _follow(_start(integration, "links_csv", state, here=here), here=here, wait=wait)


@bulk_cli.command("export")
@click.argument("integration_id")
@click.option("--batch-size", type=click.IntRange(1, 50), help="Contacts per batch call.")
@click.option("--here", is_flag=True, help="Run the job in this process, not on a worker.")
@click.option("--wait/--no-wait", default=True, help="Follow the job to its end.")
def bulk_export(integration_id: str, batch_size: int | None, here: bool, wait: bool) -> None:
    """Create (or link by name) a contact for every unlinked active organisation."""
    options = {"batch_size": batch_size} if batch_size else {}
    job_id = _start(_integration(integration_id), "export", {"options": options}, here=here)
    _follow(job_id, here=here, wait=wait)


@bulk_cli.command("import")
@click.argument("integration_id")
@click.option("--here", is_flag=True, help="Run the job in this process, not on a worker.")
@click.option("--wait/--no-wait", default=True, help="Follow the job to its end.")
def bulk_import(integration_id: str, here: bool, wait: bool) -> None:
    """Create a linked organisation for every unlinked contact; update the linked ones."""
    _follow(_start(_integration(integration_id), "import", {}, here=here), here=here, wait=wait)


def _start(integration: Integration, kind: str, state: dict[str, Any], *, here: bool) -> str:
    if here:
        return jobs.create(app_runtime().db, integration.id, kind, state=state).id
    return bulk_jobs.start(app_runtime(), integration.id, kind, state=state).id


def _follow(job_id: str, *, here: bool, wait: bool) -> None:
    click.echo(f"job {job_id}")
    if here:
        runner = threading.Thread(target=bulk_jobs.run_job, args=(app_runtime(), job_id), daemon=True)
        runner.start()
    elif not wait:
        return
    job = _progress_bar(job_id)
    click.echo(f"{job.done + job.failed}/{job.total} handled: {job.done} done, {job.failed} failed")
    click.echo(json.dumps({"status": job.status, "total": job.total, "done": job.done,
                           "failed": job.failed, "summary": (job.state or {}).get("summary", {}),
                           "errors": (job.errors or [])[:20]}, indent=2))
    if job.status != JobStatus.SUCCEEDED:
        raise SystemExit(1)


def _progress_bar(job_id: str) -> Any:
    """Poll the job's row until it is over, moving the bar by what was done meanwhile."""
    shown = 0
    with click.progressbar(length=1, label="working", show_pos=True) as bar:
        while True:
            job = jobs.get(app_runtime().db, job_id)
            if job is None:
                raise click.ClickException(f"job {job_id} disappeared")
            bar.length = max(job.total, job.done + job.failed, 1)
            bar.update(job.done + job.failed - shown)
            shown = job.done + job.failed
            if job.status in jobs.FINISHED:
                return job
            time.sleep(POLL_SECONDS)
