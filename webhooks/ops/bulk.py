"""The ops page's bulk work (interface §8): start an export or an import, download and upload
the links CSV, stop a job. Each action calls the admin API's own functions (webhooks.api_jobs,
webhooks.api_csv), so the page and the API keep the same bounds and checks; what differs is
the answer: a flash message or a result page an operator reads, never a JSON error.
"""
from __future__ import annotations

import inspect
from functools import wraps
from typing import Any, Callable, TypeVar

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from core.store import jobs
from providers.registry import provider_class
from webhooks import api_csv, api_jobs
from webhooks.api_integrations import found
from webhooks.api_links import asking_provider
from webhooks.errors import ApiError
from webhooks.ops import blueprint
from webhooks.ops.pages import rt
from webhooks.ops.security import ops_required
from workers.bulk import jobs as bulk_jobs
from workers.bulk.csv_format import MAX_BYTES, CsvRefused, CsvRow, read_rows
from workers.bulk.csv_job import ANSWER_AT_ONCE, link_from_csv, rows_state

F = TypeVar("F", bound=Callable[..., Any])

#: Multipart framing allowed above the file's own limit (the API allows as much).
FRAMING_BYTES = 64 * 1024
KIND_WORDS = {"export": "An export", "import": "An import"}


def _back(integration_id: str) -> Response:
    return redirect(url_for("ops.integration_page", integration_id=integration_id))


@blueprint.post("/integrations/<integration_id>/export")
@ops_required
def start_export(integration_id: str) -> Response:
    return _start(integration_id, "export")


@blueprint.post("/integrations/<integration_id>/import")
@ops_required
def start_import(integration_id: str) -> Response:
    return _start(integration_id, "import")


def _start(integration_id: str, kind: str) -> Response:
    """As ``POST /api/integrations/<id>/<kind>``; its 409s become a message on the page."""
    try:
        answer, _ = api_jobs.start_job(integration_id, kind, {})  # the API's own check-and-start
    except ApiError as error:
        flash(_refusal(kind, error), "warning" if error.status == 409 else "error")
        return _back(integration_id)
    flash(f"{KIND_WORDS[kind]} started (job {answer['job_id']}); its progress shows under Bulk.", "ok")
    return _back(integration_id)


def _refusal(kind: str, error: ApiError) -> str:
    running = error.extra.get("job_id")
    if running:
        return (f"Not started: {KIND_WORDS[kind].lower()} is already under way (job {running}). "
                "Wait for it to finish, or cancel it, then start again.")
    return f"Not started: {error.error}."


@blueprint.post("/jobs/<job_id>/cancel")
@ops_required
def cancel_job(job_id: str) -> Response:
    job = jobs.get(rt().db, job_id)
    if job is None:
        flash(f"There is no job {job_id}.", "error")
        return redirect(url_for("ops.overview"))
    if job.status in jobs.FINISHED:
        flash(f"Nothing to cancel: the job is already {job.status}.", "warning")
    else:
        jobs.request_cancel(rt().db, job.id)
        flash("Cancel asked: the job stops after its current batch (what it did stays done).", "ok")
    return _back(job.integration_id)


@blueprint.get("/integrations/<integration_id>/links.csv")
@ops_required
def download_links(integration_id: str) -> Any:
    """The same stream as ``GET /api/integrations/<id>/links.csv``, for a signed-in browser."""
    try:
        return inspect.unwrap(api_csv.download)(integration_id)  # the view without its Bearer check
    except ApiError as error:
        return render_template("ops/message.html", title="No links CSV now",
                               message=f"The links CSV cannot be made now: {error.error}."), error.status


def _bounded(view: F) -> F:
    """Refuse a body over the CSV limit before anything reads it (the CSRF check parses the
    form, which would spool the whole file first)."""
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if (request.content_length or 0) > MAX_BYTES + FRAMING_BYTES:
            return render_template("ops/message.html", title="File too large", message=(
                f"The links CSV may be at most {MAX_BYTES // (1024 * 1024)} MiB.")), 413
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@blueprint.post("/integrations/<integration_id>/links.csv")
@_bounded
@ops_required
def upload_links(integration_id: str) -> Any:
    """As ``POST /api/integrations/<id>/links.csv``: up to ANSWER_AT_ONCE rows are answered on
    a result page, more become a job followed under Bulk."""
    dry_run = api_csv.DRY_RUN_VALUES.get((request.form.get("dry_run") or "0").lower(), False)
    try:
        integration = found(integration_id)
        rows = _uploaded_rows(provider_class(integration.provider_kind).csv_column)
        if len(rows) > ANSWER_AT_ONCE:
            job = bulk_jobs.start(rt(), integration.id, "links_csv", state=rows_state(rows, dry_run=dry_run))
            flash(f"{len(rows)} rows are more than {ANSWER_AT_ONCE}: job {job.id} checks them; "
                  "its progress and errors show under Bulk.", "ok")
            return _back(integration_id)
        outcome = asking_provider(integration, lambda provider: link_from_csv(
            provider, rt().db, integration.id, rows, dry_run=dry_run))
    except ApiError as error:
        flash(f"Links CSV not taken: {error.error}.", "error")
        return _back(integration_id)
    return render_template("ops/csv_result.html", integration=integration, dry_run=dry_run,
                           result=outcome.to_dict(), rows=len(rows))


def _uploaded_rows(column: str) -> list[CsvRow]:
    try:
        return read_rows(api_csv.csv_bytes(), column)  # the API's size and type bounds
    except CsvRefused as refused:
        raise ApiError(refused.status, refused.message) from None
