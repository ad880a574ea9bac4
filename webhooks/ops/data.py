"""What the ops page reads: integrations needing attention, recent counts, queue figures."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import case, select

from core.models import EventStatus, IntegrationStatus, JobStatus
from core.runtime import Runtime
from core.settings import CURRENT_RMS_WEB_URL
from core.store import integrations, jobs
from core.tables import Event, Integration, Job, utcnow
from webhooks import queues
from webhooks.api_jobs import job_view

STATUSES = tuple(status.value for status in EventStatus)
WINDOWS = (("hour", timedelta(hours=1)), ("day", timedelta(days=1)))
#: Bulk jobs listed on an integration's page, latest first.
RECENT_JOBS = 10
#: Job statuses that keep a page refreshing (the job is still moving).
UNFINISHED_JOBS = JobStatus.unfinished()


@dataclass
class Attention:
    integration: Integration
    problems: list[str]


def needing_attention(all_integrations: list[Integration]) -> list[Attention]:
    """Integrations to reconnect or whose webhooks are not registered (disabled ones aside)."""
    found = []
    for integration in all_integrations:
        problems = []
        if integration.status == IntegrationStatus.RECONNECT_NEEDED:
            problems.append(f"Reconnect needed: {integration.status_reason or 'credentials refused'}")
        if integration.status != IntegrationStatus.DISABLED and not integration.webhooks_registered:
            problems.append(f"Webhooks not registered: {integration.webhook_error or 'not yet registered'}")
        if problems:
            found.append(Attention(integration, problems))
    return found


@dataclass
class Counts:
    """Events by status for one integration, per window."""

    integration: Integration
    by_window: dict[str, dict[str, int]] = field(default_factory=dict)

    def get(self, window: str, status: str) -> int:
        return self.by_window.get(window, {}).get(status, 0)


def recent_counts(rt: Runtime, all_integrations: list[Integration]) -> list[Counts]:
    """Events received in the last hour and day, by integration and status, counted here from
    the day's rows, read through the covering index ``ix_events_received`` in a
    read-only session (no write lock).

    Not a GROUP BY in the database: SQLite, without statistics, would then rather walk
    ``ix_events_organisation`` to avoid a sort, through every event in the table (4 s at
    1,000,000 events; ``bench/metrics_scale.py``). A day's rows are about 11,000."""
    counts = {i.id: Counts(i) for i in all_integrations}
    now = utcnow()
    (_, hour), (_, day) = WINDOWS
    # The hour test is done in SQL: no datetime is built per row in Python.
    within_hour = case((Event.received_at >= now - hour, 1), else_=0)
    query = select(Event.integration_id, Event.status, within_hour).where(Event.received_at >= now - day)
    with rt.db.reading() as session:
        tally = Counter(tuple(row) for row in session.execute(query))
    for (integration_id, status, in_hour), count in tally.items():
        if integration_id not in counts:
            continue
        by_window = counts[integration_id].by_window
        for window in (("hour", "day") if in_hour else ("day",)):
            figures = by_window.setdefault(window, {})
            figures[status] = figures.get(status, 0) + count
    return list(counts.values())


def queue_figures(rt: Runtime) -> tuple[list[queues.QueueStats], str | None]:
    """Each queue's figures, or an error to show when the broker does not answer."""
    try:
        return queues.all_stats(rt), None
    except queues.QueuesUnknown as error:
        return [], str(error)


def integration_names(rt: Runtime) -> dict[str, str]:
    with rt.db.reading() as session:
        return {row.id: row.name for row in session.execute(select(Integration.id, Integration.name))}


def active_integrations(rt: Runtime) -> list[Integration]:
    return integrations.all_active(rt.db)


def source_web_url(integration: Integration | None, organisation_id: Any,
                   web_url: str = CURRENT_RMS_WEB_URL) -> str | None:
    """The organisation in Current RMS's web app (``https://<subdomain>.current-rms.com``, or
    ``CURRENT_RMS_WEB_URL``: under ``make run`` the sandbox's page)."""
    if integration is None or not organisation_id:
        return None
    base = web_url.replace("{subdomain}", integration.source_subdomain).rstrip("/")
    return f"{base}/members/{int(organisation_id)}"


def recent_jobs(rt: Runtime, integration_id: str) -> list[dict[str, Any]]:
    """The integration's latest bulk jobs as the API shows them (``job_view``)."""
    return [job_view(job) for job in jobs.recent(rt.db, integration_id=integration_id, limit=RECENT_JOBS)]


def unfinished_jobs(rt: Runtime) -> list[dict[str, Any]]:
    """Every queued or running bulk job, oldest first (a handful at most: one export and one
    import per integration, plus CSV jobs), for the overview."""
    with rt.db.reading() as session:
        rows = session.scalars(select(Job).where(Job.status.in_(UNFINISHED_JOBS)).order_by(Job.created_at))
        return [job_view(job) for job in rows]


def moving(job_views: list[dict[str, Any]]) -> bool:
    return any(job["status"] in UNFINISHED_JOBS for job in job_views)
