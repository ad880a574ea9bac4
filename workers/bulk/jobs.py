"""Run one bulk job to its end: the plain function behind the ``run_job`` actor.

A job is resumable: its row keeps its progress and resume point, so a repeated message (a
worker killed mid-job, its message redelivered by the broker, or ``requeue_stale``) continues
it. Errors decide its fate like a sync's: refused credentials mark the integration
``reconnect_needed``; other failures fail the job with a reason, and starting the same kind
of job again continues where this one stopped (linked organisations cost nothing).
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable

import structlog

from core.errors import CredentialsRefused, ProviderError, SyncError
from core.models import IntegrationStatus, JobStatus
from core.runtime import Runtime
from core.store import integrations, jobs
from core.tables import Job, utcnow
from workers import messages
from workers.bulk.csv_job import run_links_csv
from workers.bulk.export import run_export
from workers.bulk.import_ import run_import
from workers.bulk.match import run_match
from workers.bulk.run import BulkRun, Cancelled
from workers.ledger_verify import KIND as VERIFY_LINKS
from workers.ledger_verify import run_verify

log = structlog.get_logger(__name__)

RUNNERS: dict[str, Callable[[BulkRun], None]] = {
    "export": run_export, "import": run_import, "links_csv": run_links_csv,
    "match": run_match, VERIFY_LINKS: run_verify,
}
#: A queued or running job untouched this long has lost its worker or its message.
STALE_AFTER_SECONDS = 600.0


def start(rt: Runtime, integration_id: str, kind: str, *, total: int = 0,
          state: dict[str, Any] | None = None) -> Job:
    """Record a job and hand it to the bulk queue (if Redis is down it waits for
    ``requeue_stale``: the row, not the queue, records what is owed)."""
    job = jobs.create(rt.db, integration_id, kind, total=total, state=state)
    enqueue(job.id)
    return job


def enqueue(job_id: str) -> bool:
    try:
        messages.send(messages.RUN_JOB, job_id)
    except messages.BROKER_UNAVAILABLE as error:
        log.warning("broker unavailable; the job stays queued", job_id=job_id,
                    error=type(error).__name__)
        return False
    return True


def requeue_stale(rt: Runtime, *, idle_seconds: float = STALE_AFTER_SECONDS) -> int:
    """Send again every job whose worker seems gone (for the scheduler); returns the count."""
    stale = jobs.stale(rt.db, idle_before=utcnow() - timedelta(seconds=idle_seconds))
    return sum(1 for job in stale if enqueue(job.id))


def run_job(rt: Runtime, job_id: str) -> str | None:
    """Run (or resume) the job; returns its final status, ``None`` when it was not owed."""
    job = jobs.start(rt.db, job_id)
    if job is None:
        return None
    integration = integrations.get(rt.db, job.integration_id)
    if integration is None or integration.status != IntegrationStatus.ACTIVE:
        jobs.finish(rt.db, job.id, JobStatus.FAILED, error="the integration is not active")
        return JobStatus.FAILED
    structlog.contextvars.bind_contextvars(job_id=job.id, integration_id=integration.id)
    try:
        run = BulkRun.build(rt, job, integration)
        status, error = _run(run, integration.id, rt)
        jobs.finish(rt.db, job.id, status, error=error)
        log.info("bulk job finished", kind=job.kind, status=status, summary=run.summary)
        return status
    finally:
        structlog.contextvars.unbind_contextvars("job_id", "integration_id")


def _run(run: BulkRun, integration_id: str, rt: Runtime) -> tuple[str, str | None]:
    try:
        RUNNERS[run.job.kind](run)
    except Cancelled:
        return JobStatus.CANCELLED, None
    except CredentialsRefused as error:
        integrations.set_status(rt.db, integration_id, IntegrationStatus.RECONNECT_NEEDED, error.reason)
        return JobStatus.FAILED, error.reason
    except ProviderError as error:
        return JobStatus.FAILED, f"{error.reason}: {error.detail()}"
    except SyncError as error:
        return JobStatus.FAILED, error.reason
    except Exception as error:  # a bug or an unforeseen answer: stop, keep what was done
        log.exception("bulk job crashed")
        return JobStatus.FAILED, f"internal error: {type(error).__name__}"
    return JobStatus.SUCCEEDED, None
