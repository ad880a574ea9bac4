"""Thin actors over plain functions (Dramatiq docs: actors idempotent, send ids not objects).

This module is the worker process's entry point (``dramatiq workers.actors``, Procfile): it
configures logging and, when the process boots, checks that the organisation lock's TTL can
cover one call after the fencing check (``core.locks.check_budget``), stopping with a message
naming the setting otherwise. Nothing else imports it: senders use ``workers.messages``.
Retries are off here: the database decides (``workers.processing``), so that nothing owed lives
only in Redis.
"""
from __future__ import annotations

import dramatiq
import structlog

from core import logging as app_logging
from core.errors import ConfigError, CredentialsRefused, ProviderError, SourceCredentialsRefused
from core.locks import check_budget
from core.models import IntegrationStatus
from core.runtime import runtime
from core.store import integrations
from core.store import ledger as ledger_store
from workers import alerts, messages
from workers.broker import broker
from workers.bulk.jobs import run_job as run_bulk_job
from workers.holders import HolderSweeper
from workers.ledger import process_ledger_event
from workers.ledger_poll import poll_integration
from workers.processing import process_event
from workers.reconcile import reconcile
from workers.worker_info import WorkerInfo

app_logging.configure()
log = structlog.get_logger(__name__)

#: Milliseconds an actor may run; longer than the organisation lock's TTL is pointless.
TIME_LIMIT_MS = 10 * 60 * 1000


class StartUpCheck(dramatiq.Middleware):
    """Refuse to start a worker whose settings cannot keep the fencing promise."""

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        settings = runtime().settings
        try:
            check_budget(settings.lock_ttl_seconds, settings.http_timeout)
        except ConfigError as error:
            # SystemExit, not the error itself: Dramatiq logs and swallows a middleware's
            # exceptions, and this process must not start.
            log.critical("worker not started", reason=str(error))
            raise SystemExit(f"worker not started: {error}") from error


broker.add_middleware(StartUpCheck())
# Each worker process records its host, pid, queues and threads for the ops page's workers view.
broker.add_middleware(WorkerInfo())
# Each worker process releases what dead processes of its host held (issue 13, finding 8).
broker.add_middleware(HolderSweeper())


@dramatiq.actor(actor_name=messages.SYNC_EVENT, queue_name=messages.QUEUES[messages.SYNC_EVENT],
                max_retries=0, time_limit=TIME_LIMIT_MS)
def sync_event(event_id: str) -> None:
    """Sync the organisation of one event (a repeated message finds nothing owed)."""
    rt = runtime()
    if ledger_store.is_ledger_event(rt.db, event_id):  # sent by the outbox relay
        process_ledger_event(rt, event_id)
        return
    process_event(rt, event_id)


@dramatiq.actor(actor_name=messages.RECONCILE_INTEGRATION,
                queue_name=messages.QUEUES[messages.RECONCILE_INTEGRATION],
                max_retries=0, time_limit=TIME_LIMIT_MS)
def reconcile_integration(integration_id: str) -> None:
    """Run the reconciliation poll of one integration (periodic, or ``POST .../reconcile``)."""
    rt = runtime()
    integration = integrations.get(rt.db, integration_id)
    if integration is None:
        return
    try:
        reconcile(rt, integration)
    except SourceCredentialsRefused as error:
        integrations.set_status(rt.db, integration.id, IntegrationStatus.RECONNECT_NEEDED, error.reason)
    except ProviderError as error:
        # The next poll asks again from the same watermark: nothing is lost by waiting.
        log.warning("reconciliation poll failed", integration_id=integration_id, error=error.detail())


#: A bulk job may run for hours at the published limits (10,000 Sage contacts at 80 a minute).
BULK_TIME_LIMIT_MS = 24 * 3600 * 1000


@dramatiq.actor(actor_name=messages.RUN_JOB, queue_name=messages.QUEUES[messages.RUN_JOB],
                max_retries=0, time_limit=BULK_TIME_LIMIT_MS)
def run_job(job_id: str) -> None:
    """Run or resume one bulk job (a repeated message continues it; a finished one is a no-op)."""
    run_bulk_job(runtime(), job_id)


@dramatiq.actor(actor_name=messages.DELIVER_ALERTS, queue_name=messages.QUEUES[messages.DELIVER_ALERTS],
                max_retries=0, time_limit=TIME_LIMIT_MS)
def deliver_alerts() -> None:
    """Send the alerts that are due (the database holds them and their next attempt)."""
    alerts.deliver_due(runtime())


@dramatiq.actor(actor_name=messages.LEDGER_POLL, queue_name=messages.QUEUES[messages.LEDGER_POLL],
                max_retries=0, time_limit=BULK_TIME_LIMIT_MS)
def ledger_poll(integration_id: str) -> None:
    """One integration's ledger poll (periodic, or ``POST .../ledger-poll``), at bulk priority."""
    rt = runtime()
    integration = integrations.get(rt.db, integration_id)
    if integration is None or integration.status != IntegrationStatus.ACTIVE:
        return
    try:
        poll_integration(rt, integration)
    except CredentialsRefused as error:
        integrations.set_status(rt.db, integration.id, IntegrationStatus.RECONNECT_NEEDED, error.reason)
    except ProviderError as error:
        # The watermark did not move: the next poll asks again from the same point.
        log.warning("ledger poll failed", integration_id=integration_id, error=error.detail())
