"""Run one event: claim it, lock its organisation, sync, and record what happened.

The error's class decides the event's fate (DESIGN "Errors"): transient causes retry with
exponential backoff and jitter until 24 hours have passed, causes that need a person fail at
once with a reason, refused credentials mark the integration ``reconnect_needed``. Waiting
for a lock or for the rate limiter is not a failed attempt.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

import structlog

from core import metrics
from core.logging import REDACTED, scrub
from core.errors import (
    CredentialsRefused, LockBusy, LockLost, ProviderError, RateLimited, Rejected, SyncError,
    Transient,
)
from core.locks import OrganisationLock
from core.models import Outcome, Policies
from core.runtime import Runtime
from core.store import events, integrations
from core.tables import Event, Integration, utcnow
from providers import factory
from providers.base import AccountingProvider
from providers.registry import provider_class
from providers.current_rms import CurrentRMS
from workers.sync import PendingCreate, SyncJob, SyncResult, sync_organisation

log = structlog.get_logger(__name__)

#: Seconds before an event whose organisation is locked by another sync is tried again.
LOCK_WAIT_SECONDS = 0.5


def backoff(attempt: int, *, low: float, high: float) -> float:
    """Exponential backoff with jitter: about ``low`` after the first failure, doubling,
    never above ``high``; the jitter spreads retries of a burst that failed together."""
    ceiling = min(high, low * (2 ** max(0, attempt - 1)))
    return ceiling * random.uniform(0.5, 1.0)


def process_event(rt: Runtime, event_id: str) -> str | None:
    """Run the event if it is owed; returns its new status (``None``: nothing to do)."""
    event = events.claim(rt.db, event_id, lease_seconds=rt.settings.lock_ttl_seconds)
    if event is None:
        return None
    structlog.contextvars.bind_contextvars(
        event_id=event.id, integration_id=event.integration_id,
        organisation_id=event.organisation_id,
    )
    try:
        return _run_claimed(rt, event)
    finally:
        structlog.contextvars.unbind_contextvars("event_id", "integration_id", "organisation_id")


def _run_claimed(rt: Runtime, event: Event) -> str:
    integration = integrations.get(rt.db, event.integration_id)
    refusal = _integration_refusal(integration)
    if refusal is not None:
        return _fail(rt, event, refusal, refusal)
    assert integration is not None
    claimed = take(rt, integration, event)
    if claimed is None:
        return "queued"
    from workers import batching  # batching builds on this module

    try:
        if batching.wanted(rt, integration, event):
            return batching.run(rt, integration, claimed)
        settled = settle(rt, integration, claimed, lambda: sync_organisation(job_for(rt, integration, claimed)))
        return settled.status
    finally:
        claimed.lock.release()


@dataclass
class Claimed:
    """An event this worker claimed, its organisation's lock held, its attempt counted."""

    event: Event
    lock: OrganisationLock
    attempt: int


def take(rt: Runtime, integration: Integration, event: Event) -> Claimed | None:
    """Lock the event's organisation and count the attempt; ``None`` (and the event put back
    to wait, which is not a failed attempt) when another sync holds the lock."""
    assert event.organisation_id is not None
    lock = OrganisationLock(
        rt.redis, integration_id=integration.id, organisation_id=event.organisation_id,
        ttl=rt.settings.lock_ttl_seconds,
    )
    if not lock.acquire():
        events.retry_later(rt.db, event.id, delay=LOCK_WAIT_SECONDS, error=None, failed_attempt=False)
        return None
    return Claimed(event, lock, events.start_attempt(rt.db, event))


def _integration_refusal(integration: Integration | None) -> str | None:
    if integration is None:
        return "the integration was deleted"
    if integration.status == "disabled":
        return "the integration is disabled"
    if integration.status == "reconnect_needed":
        return integration.status_reason or "reconnect the accounting system"
    return None


def job_for(
    rt: Runtime, integration: Integration, claimed: Claimed, *,
    source: CurrentRMS | None = None, provider: Callable[[], AccountingProvider] | None = None,
) -> SyncJob:
    event = claimed.event
    return SyncJob(
        db=rt.db, integration_id=integration.id, policies=Policies.from_dict(integration.policies),
        organisation_id=event.organisation_id or 0, kind="create" if event.kind == "create" else "update",
        force_write=event.force_write, source=source or factory.rental_system(rt, integration),
        provider_factory=provider or (lambda: factory.accounting_provider(rt, integration)),
        names_unique=provider_class(integration.provider_kind).enforces_unique_names,
        lock=claimed.lock,
    )


@dataclass(frozen=True)
class Settled:
    status: str
    #: A create deferred to a batch call (only when ``run`` returned one).
    pending: PendingCreate | None = None


def settle(
    rt: Runtime, integration: Integration, claimed: Claimed,
    run: Callable[[], SyncResult | PendingCreate],
) -> Settled:
    """Run one event's sync and record its fate from what ``run`` returned or raised."""
    event, attempt = claimed.event, claimed.attempt
    started = time.perf_counter()
    try:
        result = run()
    except (LockBusy, LockLost) as error:
        events.retry_later(rt.db, event.id, delay=LOCK_WAIT_SECONDS, error=str(error), failed_attempt=False)
        status = "queued"
    except RateLimited as error:
        status = _rate_limited(rt, event, error, attempt)
    except Transient as error:
        status = _transient(rt, event, error, attempt)
    except CredentialsRefused as error:
        integrations.set_status(rt.db, integration.id, "reconnect_needed", scrub(error.reason))
        status = _fail(rt, event, error.reason, _detail(error))
    except Rejected as error:
        status = _fail(rt, event, error.reason, _detail(error))
    except SyncError as error:
        status = _transient(rt, event, error, attempt)
    except Exception as error:  # a bug or an unforeseen answer: keep the event, retry, tell
        log.exception("sync crashed", event_id=event.id)
        status = _transient(rt, event, error, attempt)
    else:
        if isinstance(result, PendingCreate):
            return Settled("processing", pending=result)
        events.finish(rt.db, event.id, status=result.status, outcome=result.outcome.to_dict())
        status = result.status
        log.info("event processed", event_id=event.id, organisation_id=event.organisation_id,
                 status=status, action=result.outcome.action,
                 contact_id=result.outcome.contact_id, attempt=attempt)
    metrics.SYNC_SECONDS.labels(provider=integration.provider_kind, status=status).observe(
        time.perf_counter() - started
    )
    return Settled(status)


def _detail(error: BaseException) -> str:
    """The technical detail kept as ``last_error``, scrubbed of anything token-like."""
    detail = error.detail() if isinstance(error, ProviderError) else f"{type(error).__name__}: {error}"
    return scrub(detail)


def _known_secrets(rt: Runtime, integration_id: str) -> list[str]:
    """The integration's own secret values: an error body quoting one in plain words is caught
    even where no token-shaped pattern is (read only when something is about to be stored)."""
    integration = integrations.get(rt.db, integration_id, include_deleted=True)
    if integration is None or not integration.sealed_secrets:
        return []
    values = integrations.secrets_of(rt.vault, integration).values()
    return [v for v in values if isinstance(v, str) and len(v) >= 8]


def _stored(rt: Runtime, event: Event, text: str | None) -> str | None:
    """``text`` as it may be stored on the event: token-shaped values and the integration's
    own secrets masked."""
    if not text:
        return text
    for secret in _known_secrets(rt, event.integration_id):
        text = text.replace(secret, REDACTED)
    return scrub(text)


def _fail(rt: Runtime, event: Event, reason: str, detail: str | None) -> str:
    # A provider's reason may quote its error body (Xero's validation message): scrubbed too.
    reason = _stored(rt, event, reason) or reason
    outcome = Outcome(action=None, reason=reason).to_dict()
    events.finish(rt.db, event.id, status="failed", outcome=outcome, error=_stored(rt, event, detail))
    log.warning("event failed", reason=reason)
    return "failed"


def _rate_limited(rt: Runtime, event: Event, error: RateLimited, attempt: int) -> str:
    """Our own limiter had no room: wait, not a failed attempt. A 429 from the other
    system is one (its ``Retry-After`` is honoured)."""
    if error.status is None:
        events.retry_later(rt.db, event.id, delay=error.retry_after, error=None, failed_attempt=False)
        return "queued"
    return _transient(rt, event, error, attempt, at_least=error.retry_after)


def _transient(
    rt: Runtime, event: Event, error: BaseException, attempt: int, *, at_least: float = 0.0,
) -> str:
    settings = rt.settings
    current = events.get(rt.db, event.id)
    first_failure = (current.first_failure_at if current else None) or utcnow()
    if utcnow() - first_failure > timedelta(seconds=settings.retry_give_up_seconds):
        reason = getattr(error, "reason", None) or "the other system kept failing"
        return _fail(rt, event, f"gave up retrying after {settings.retry_give_up_seconds / 3600:g} hours: {reason}", _detail(error))
    delay = max(at_least, backoff(attempt, low=settings.retry_min_seconds, high=settings.retry_max_seconds))
    detail = _stored(rt, event, _detail(error))
    events.retry_later(rt.db, event.id, delay=delay, error=detail, failed_attempt=True)
    log.info("event will retry", delay=round(delay, 2), error=detail, attempt=attempt)
    return "retrying"
