"""The links CSV (interface §7): download every active organisation with its link; upload links.

``GET /api/integrations/<id>/links.csv`` streams while paging the rental system.
``POST /api/integrations/<id>/links.csv[?dry_run=1]`` takes a ``text/csv`` body or a multipart
upload; up to 500 data rows are answered at once (asking the accounting system, so 503 with
``Retry-After`` when it cannot answer now), more become a job (202 ``{"job_id"}``).
"""
from __future__ import annotations

import csv
import re
from itertools import chain
from typing import Any, Iterator

import structlog
from flask import Blueprint, Response, request

from core.errors import CredentialsRefused, ProviderError, Transient
from providers import factory, registry
from providers.registry import provider_class
from webhooks.api_integrations import found
from webhooks.api_links import asking_provider
from webhooks.app_runtime import app_runtime
from webhooks.auth import admin_required
from webhooks.errors import ApiError
from workers.bulk import jobs as bulk_jobs
from workers.bulk.csv_export import link_rows
from workers.bulk.csv_format import MAX_BYTES, CsvRefused, read_rows, write_lines
from workers.bulk.csv_job import ANSWER_AT_ONCE, link_from_csv, rows_state

log = structlog.get_logger(__name__)
blueprint = Blueprint("api_csv", __name__, url_prefix="/api/integrations")

#: Body types taken as the CSV itself (spreadsheet software and browsers vary).
CSV_TYPES = ("text/csv", "text/plain", "application/csv", "application/vnd.ms-excel",
             "application/octet-stream", "")
#: ``dry_run``: its values, meaning yes or no (anything else: 400).
DRY_RUN_VALUES = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}




@blueprint.get("/<integration_id>/links.csv")
@admin_required
def download(integration_id: str) -> Response:
    integration = found(integration_id)
    column = provider_class(integration.provider_kind).csv_column
    rows = link_rows(factory.rental_system(app_runtime(), integration), app_runtime().db, integration.id)
    first = _first(rows)  # the first page is asked for now, so its failure gets a real status
    lines = write_lines(column, chain(first, rows))
    return Response(_encoded(lines), content_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="links-{integration.id}.csv"'})


def _first(rows: Iterator[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
    try:
        return [row for row in [next(rows, None)] if row is not None]
    except CredentialsRefused:
        raise ApiError(409, "Current RMS refused the API key: reconnect it") from None
    except Transient:
        raise ApiError(503, "Current RMS is not answering", headers={"Retry-After": "5"}) from None


def _encoded(lines: Iterator[str]) -> Iterator[bytes]:
    try:
        for line in lines:
            yield line.encode("utf-8")
    except ProviderError as error:  # mid-stream: the status is sent; cut the download short
        log.warning("links csv cut short", error=error.detail())
        raise


@blueprint.post("/<integration_id>/links.csv")
@admin_required
def upload(integration_id: str) -> tuple[dict[str, Any], int]:
    integration = found(integration_id)
    raw_dry_run = request.args.get("dry_run", "0")
    if raw_dry_run not in DRY_RUN_VALUES:
        raise ApiError(400, "invalid query", fields={"dry_run": ["1 or 0"]})
    dry_run = DRY_RUN_VALUES[raw_dry_run]
    column = provider_class(integration.provider_kind).csv_column
    data = csv_bytes()
    _refuse_another_systems_file(data, column)
    try:
        rows = read_rows(data, column)
    except CsvRefused as refused:
        raise ApiError(refused.status, refused.message) from None
    except csv.Error as error:  # e.g. a NUL byte: Python's csv module refuses the line
        raise ApiError(400, f"the file is not CSV the service can read: {error}") from None
    if len(rows) > ANSWER_AT_ONCE:
        job = bulk_jobs.start(app_runtime(), integration.id, "links_csv",
                              state=rows_state(rows, dry_run=dry_run))
        return {"job_id": job.id}, 202
    outcome = asking_provider(integration, lambda provider: link_from_csv(
        provider, app_runtime().db, integration.id, rows, dry_run=dry_run))
    return outcome.to_dict(), 200


def _refuse_another_systems_file(data: bytes, column: str) -> None:
    """A file made for another accounting system (its link column, not ours) conflicts with
    this integration: 409, saying which system it was made for."""
    # The first line as the csv module reads it (only CR and LF end a line; not str.splitlines).
    header = re.split(r"\r|\n", data[:65536].decode("utf-8-sig", errors="replace"), maxsplit=1)[0]
    cells = {cell.strip().strip('"') for cell in header.replace(";", ",").split(",")}
    if column in cells:
        return
    others = [provider_class(kind).csv_column for kind in registry.kinds()]
    theirs = [other for other in others if other != column and other in cells]
    if theirs:
        raise ApiError(409, f"this file's links are for another accounting system ('{theirs[0]}'); "
                            f"this integration's column is '{column}'")


def csv_bytes() -> bytes:
    if (request.content_length or 0) > MAX_BYTES + 64 * 1024:  # multipart framing allowed
        raise ApiError(413, f"body larger than {MAX_BYTES // (1024 * 1024)} MiB")
    mimetype = (request.mimetype or "").lower()
    if mimetype == "multipart/form-data":
        upload = request.files.get("file") or next(iter(request.files.values()), None)
        if upload is None:
            raise ApiError(400, "no file in the upload", fields={"file": ["missing"]})
        data = upload.stream.read(MAX_BYTES + 1)
    elif mimetype in CSV_TYPES:
        data = request.stream.read(MAX_BYTES + 1)
    else:
        raise ApiError(415, "send the CSV as text/csv or as a multipart upload")
    if len(data) > MAX_BYTES:
        raise ApiError(413, f"file larger than {MAX_BYTES // (1024 * 1024)} MiB")
    return data
