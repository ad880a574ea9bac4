"""Bulk export, bulk import and their jobs (interface §7).

``POST /api/integrations/<id>/export`` and ``/import`` -> 202 ``{"job_id"}`` (409 while one of
the same kind is unfinished, naming it); ``GET /api/jobs/<id>`` -> status, total, done, failed,
errors (and ``summary``: counts by outcome); ``POST /api/jobs/<id>/cancel`` -> 202;
``GET /api/jobs[?integration_id=]`` -> the latest jobs, for the ops page.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from core.models import IntegrationStatus
from core.store import jobs
from core.tables import Job
from webhooks.api_integrations import found
from webhooks.app_runtime import app_runtime
from webhooks.auth import admin_required
from webhooks.errors import ApiError
from webhooks.views import iso, json_body
from workers.bulk import jobs as bulk_jobs

blueprint = Blueprint("api_jobs", __name__, url_prefix="/api")

#: Largest batch a caller may ask for (each provider caps it further: Xero 50, QuickBooks 30).
MAX_BATCH_SIZE = 50
LIST_LIMIT = 20




def job_view(job: Job) -> dict[str, Any]:
    state = job.state or {}
    return {
        "id": job.id, "integration_id": job.integration_id, "kind": job.kind,
        "status": job.status, "total": job.total, "done": job.done, "failed": job.failed,
        "errors": list(job.errors or []), "summary": state.get("summary", {}),
        "dry_run": bool(state.get("dry_run")), "cancel_requested": job.cancel_requested,
        "created_at": iso(job.created_at), "updated_at": iso(job.updated_at),
        "finished_at": iso(job.finished_at),
    }


@blueprint.post("/integrations/<integration_id>/export")
@admin_required
def start_export(integration_id: str) -> tuple[dict[str, Any], int]:
    return start_job(integration_id, "export", _options(json_body(required=False)))


@blueprint.post("/integrations/<integration_id>/import")
@admin_required
def start_import(integration_id: str) -> tuple[dict[str, Any], int]:
    unknown = sorted(json_body(required=False))
    if unknown:  # no options: a key is a mistake worth saying
        raise ApiError(400, "invalid body", fields={key: ["unknown field"] for key in unknown})
    return start_job(integration_id, "import", {})


def _options(body: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(body) - {"batch_size"})
    if unknown:
        raise ApiError(400, "invalid body", fields={key: ["unknown field"] for key in unknown})
    size = body.get("batch_size")
    if size is None:
        return {}
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_BATCH_SIZE:
        raise ApiError(400, "invalid body", fields={"batch_size": [f"from 1 to {MAX_BATCH_SIZE}"]})
    return {"batch_size": size}


def start_job(integration_id: str, kind: str, options: dict[str, Any]) -> tuple[dict[str, Any], int]:
    integration = found(integration_id)
    if integration.status != IntegrationStatus.ACTIVE:
        raise ApiError(409, f"the integration is {integration.status}")
    running = jobs.unfinished(app_runtime().db, integration.id, kind)
    if running is not None:
        raise ApiError(409, f"an {kind} is already under way", extra={"job_id": running.id})
    job = bulk_jobs.start(app_runtime(), integration.id, kind, state={"options": options})
    return {"job_id": job.id}, 202


def _job(job_id: str) -> Job:
    job = jobs.get(app_runtime().db, job_id)
    if job is None:
        raise ApiError(404, "no such job")
    return job


@blueprint.get("/jobs/<job_id>")
@admin_required
def show(job_id: str) -> dict[str, Any]:
    return job_view(_job(job_id))


@blueprint.post("/jobs/<job_id>/cancel")
@admin_required
def cancel(job_id: str) -> tuple[dict[str, Any], int]:
    job = jobs.request_cancel(app_runtime().db, _job(job_id).id)
    assert job is not None
    return job_view(job), 202


@blueprint.get("/jobs")
@admin_required
def latest() -> dict[str, Any]:
    integration_id = request.args.get("integration_id")
    if integration_id:
        found(integration_id)
    rows = jobs.recent(app_runtime().db, integration_id=integration_id, limit=LIST_LIMIT)
    return {"jobs": [job_view(job) for job in rows]}
