"""Bulk jobs (CSV link import, export, import): progress, errors, where to resume, cancel.

The row is the record of a job: a worker that dies leaves it ``running`` with its ``state``
(the job kind's own resume point), and the next run of the same job continues from there.
Progress is written once per batch, in one transaction with the state it belongs to.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from core.db import Database
from core.models import JobStatus
from core.tables import Job, utcnow

KINDS = ("links_csv", "export", "import", "match", "verify_links")
#: A job in one of these is over; cancelling it changes nothing.
FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
#: Errors kept on one job: as many as a CSV may have rows (interface §7), so none is lost there.
MAX_ERRORS = 10_000


@dataclass
class Progress:
    """What one batch adds to a job, written together with its resume point."""

    done: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: Keys merged into ``state`` (None: state unchanged).
    state: dict[str, Any] | None = None
    #: A new ``total`` (None: unchanged).
    total: int | None = None


def create(db: Database, integration_id: str, kind: str, *, total: int = 0,
           state: dict[str, Any] | None = None) -> Job:
    if kind not in KINDS:
        raise ValueError(f"job kind must be one of {KINDS}, not {kind!r}")
    with db.session() as session:
        job = Job(integration_id=integration_id, kind=kind, status=JobStatus.QUEUED, total=total,
                  done=0, failed=0, errors=[], state=dict(state or {}), cancel_requested=False)
        session.add(job)
    return job


def get(db: Database, job_id: str) -> Job | None:
    if not job_id or len(job_id) > 64:
        return None
    with db.reading() as session:
        return session.get(Job, job_id)


def unfinished(db: Database, integration_id: str, kind: str) -> Job | None:
    """The job of this kind still queued or running for the integration, if any."""
    with db.reading() as session:
        return session.scalars(select(Job).where(
            Job.integration_id == integration_id, Job.kind == kind,
            Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)),
        ).order_by(Job.created_at)).first()


def recent(db: Database, *, integration_id: str | None = None, limit: int = 20) -> list[Job]:
    query = select(Job)
    if integration_id:
        query = query.where(Job.integration_id == integration_id)
    with db.reading() as session:
        return list(session.scalars(query.order_by(Job.created_at.desc()).limit(limit)))


def stale(db: Database, *, idle_before: datetime) -> list[Job]:
    """Queued or running jobs untouched since ``idle_before``: their worker probably died."""
    with db.reading() as session:
        return list(session.scalars(select(Job).where(
            Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)), Job.updated_at < idle_before,
        )))


def start(db: Database, job_id: str) -> Job | None:
    """Mark the job running (again, after a restart); ``None`` if it is over or cancelled."""
    with db.session() as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is None or job.status in FINISHED:
            return None
        if job.cancel_requested:
            _finish(job, JobStatus.CANCELLED)
            return None
        job.status = JobStatus.RUNNING
        job.updated_at = utcnow()
        return job


def restart_counts(db: Database, job_id: str, *, total: int | None = None,
                   clear_errors: bool = False) -> None:
    """A pass that recounts from the start: zero the counters; keep the errors (an export
    skips what failed before) unless the pass finds them all again (a CSV)."""
    with db.session() as session:
        job = session.get(Job, job_id)
        if job is not None:
            job.done, job.failed = 0, 0
            if clear_errors:
                job.errors = []
            if total is not None:
                job.total = total


def record(db: Database, job_id: str, progress: Progress) -> bool:
    """Add one batch's progress; returns whether a cancel was asked for meanwhile."""
    with db.session() as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is None:
            return True
        job.done += progress.done
        job.failed += progress.failed
        if progress.errors and len(job.errors) < MAX_ERRORS:
            job.errors = [*job.errors, *progress.errors][:MAX_ERRORS]
        if progress.state is not None:
            job.state = {**(job.state or {}), **progress.state}
        if progress.total is not None:
            job.total = progress.total
        job.updated_at = utcnow()
        return job.cancel_requested


def finish(db: Database, job_id: str, status: str, *, error: str | None = None) -> None:
    with db.session() as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is None:
            return
        if error:
            job.errors = [*job.errors, {"error": error}][-MAX_ERRORS:]
        _finish(job, status)


def request_cancel(db: Database, job_id: str) -> Job | None:
    """Ask the job to stop at its next batch; a job still queued is cancelled at once."""
    with db.session() as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is None:
            return None
        if job.status not in FINISHED:
            job.cancel_requested = True
            if job.status == JobStatus.QUEUED:
                _finish(job, JobStatus.CANCELLED)
        return job


def _finish(job: Job, status: str) -> None:
    job.status = status
    job.finished_at = job.updated_at = utcnow()
