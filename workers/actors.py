"""Thin actors over plain functions (Dramatiq docs: actors idempotent, send ids not objects).

Start a worker with ``dramatiq workers.actors``. Retries are off here: the database decides
(``workers.processing``), so that nothing owed lives only in Redis.
"""
from __future__ import annotations

import dramatiq
import structlog

from core import logging as app_logging
from core.errors import ProviderError, SourceCredentialsRefused
from core.runtime import runtime
from workers.broker import BULK_QUEUE, SYNC_QUEUE, broker  # noqa: F401 - sets the broker first
from workers.processing import process_event
from workers.bulk.jobs import run_job as run_bulk_job
from core.store import ledger as ledger_store
from workers.ledger import process_ledger_event
import workers.ledger_actors  # noqa: E402,F401 - declares the ledger's actors on the broker

app_logging.configure()
log = structlog.get_logger(__name__)

#: Milliseconds an actor may run; longer than the organisation lock's TTL is pointless.
TIME_LIMIT_MS = 10 * 60 * 1000


@dramatiq.actor(queue_name=SYNC_QUEUE, max_retries=0, time_limit=TIME_LIMIT_MS)
def sync_event(event_id: str) -> None:
    """Sync the organisation of one event (a repeated message finds nothing owed)."""
    rt = runtime()
    if ledger_store.is_ledger_event(rt.db, event_id):  # sent by the outbox relay
        process_ledger_event(rt, event_id)
        return
    process_event(rt, event_id)


@dramatiq.actor(queue_name=SYNC_QUEUE, max_retries=0, time_limit=TIME_LIMIT_MS)
def reconcile_integration(integration_id: str) -> None:
    """Run the reconciliation poll of one integration (periodic, or ``POST .../reconcile``)."""
    from core.store import integrations
    from workers.reconcile import reconcile

    rt = runtime()
    integration = integrations.get(rt.db, integration_id)
    if integration is None:
        return
    try:
        reconcile(rt, integration)
    except SourceCredentialsRefused as error:
        integrations.set_status(rt.db, integration.id, "reconnect_needed", error.reason)
    except ProviderError as error:
        # The next poll asks again from the same watermark: nothing is lost by waiting.
        log.warning("reconciliation poll failed", integration_id=integration_id, error=error.detail())


#: A bulk job may run for hours at the published limits (10,000 Sage contacts at 80 a minute).
BULK_TIME_LIMIT_MS = 24 * 3600 * 1000


@dramatiq.actor(queue_name=BULK_QUEUE, max_retries=0, time_limit=BULK_TIME_LIMIT_MS)
def run_job(job_id: str) -> None:
    """Run or resume one bulk job (a repeated message continues it; a finished one is a no-op)."""
    run_bulk_job(runtime(), job_id)
