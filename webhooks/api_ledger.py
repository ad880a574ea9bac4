"""The ledger's admin endpoints (interface §10): run the ledger poll now, verify every link."""
from __future__ import annotations

from typing import Any

from flask import Blueprint

from core.models import IntegrationStatus
from webhooks.api_integrations import found
from webhooks.app_runtime import app_runtime
from webhooks.auth import admin_required
from webhooks.errors import ApiError
from workers import ledger_verify, messages
from workers.bulk import jobs as bulk_jobs

blueprint = Blueprint("api_ledger", __name__, url_prefix="/api/integrations")




def _active(integration_id: str) -> Any:
    integration = found(integration_id)
    if integration.status != IntegrationStatus.ACTIVE:
        raise ApiError(409, f"the integration is {integration.status}")
    return integration


@blueprint.post("/<integration_id>/ledger-poll")
@admin_required
def ledger_poll_now(integration_id: str) -> tuple[dict[str, Any], int]:
    """Ask the accounting system for the contacts changed since the last poll, at once."""
    integration = _active(integration_id)
    try:
        messages.send(messages.LEDGER_POLL, integration.id)
    except messages.BROKER_UNAVAILABLE:
        raise ApiError(503, "the queue is unavailable; try again", headers={"Retry-After": "5"}) from None
    return {"integration_id": integration.id, "status": "queued"}, 202


@blueprint.post("/<integration_id>/verify-links")
@admin_required
def verify_links_now(integration_id: str) -> tuple[dict[str, Any], int]:
    """Read every linked contact (batched) and check it: exists, active, merged. A job."""
    integration = _active(integration_id)
    # Like every job: recorded first, so a queue that does not answer only delays it
    # (``requeue_stale`` sends it again).
    job = bulk_jobs.start(app_runtime(), integration.id, ledger_verify.KIND)
    return {"job_id": job.id}, 202
