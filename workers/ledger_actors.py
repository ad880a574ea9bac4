"""The ledger's actors: one ledger event, one integration's ledger poll, one verify-links job.

The worker process imports this module (``workers.actors`` does, last line) so that the actors
are declared on the broker. Events go on the live queue; the poll and verification, which read
many contacts at bulk priority, on the bulk queue.
"""
from __future__ import annotations

import dramatiq
import redis
import structlog

from core.errors import CredentialsRefused, ProviderError
from core.models import IntegrationStatus
from core.runtime import Runtime, runtime
from core.store import events, integrations
from workers.broker import BULK_QUEUE, SYNC_QUEUE, broker  # noqa: F401 - sets the broker first

log = structlog.get_logger(__name__)

TIME_LIMIT_MS = 10 * 60 * 1000
BULK_TIME_LIMIT_MS = 24 * 3600 * 1000


@dramatiq.actor(queue_name=SYNC_QUEUE, max_retries=0, time_limit=TIME_LIMIT_MS)
def ledger_event(event_id: str) -> None:
    """Apply one change made in the accounting system (a repeated message finds nothing owed)."""
    from workers.ledger import process_ledger_event

    process_ledger_event(runtime(), event_id)


def send_prepared(rt: Runtime, event_id: str, message_id: str) -> bool:
    """Enqueue under the message id committed with the event; when Redis is down the event
    stays owed and the outbox relay sends it (``sync_event`` hands ledger events here)."""
    message = ledger_event.message(event_id).copy(options={"redis_message_id": message_id})
    try:
        broker.enqueue(message)
        return True
    except (redis.RedisError, OSError) as error:
        log.warning("broker unavailable; the relay will send the event", event_id=event_id,
                    error=type(error).__name__)
    events.mark_unsent(rt.db, [(event_id, message_id)])
    return False


@dramatiq.actor(queue_name=BULK_QUEUE, max_retries=0, time_limit=BULK_TIME_LIMIT_MS)
def ledger_poll(integration_id: str) -> None:
    """One integration's ledger poll (periodic, or ``POST .../ledger-poll``)."""
    from workers.ledger_poll import poll_integration

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


@dramatiq.actor(queue_name=BULK_QUEUE, max_retries=0, time_limit=BULK_TIME_LIMIT_MS)
def verify_links(job_id: str) -> None:
    """Run one verify-links job (a repeated message finds it finished)."""
    from workers.ledger_verify import run_verify_job

    run_verify_job(runtime(), job_id)
