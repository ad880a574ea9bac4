"""Run an event: claim it, lock its organisation, hand it to the executor, record its fate.

Where the event is a create and more creates of the same integration are waiting (and the
provider has a batch endpoint), they are claimed and locked too and run together: the executor
sends their creates as one batch call. Each event is recorded once, from its own fate.

The error's class decides the event's fate (docs/architecture.md, "Errors"): transient causes retry with
exponential backoff and jitter until ``RETRY_GIVE_UP_SECONDS`` have passed since the first
failure, causes that need a person fail at once with a reason, refused credentials mark the
integration ``reconnect_needed``. Waiting for a lock or for the rate limiter is not a failed
attempt.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

import structlog

from core import metrics
from core.backoff import backoff
from core.errors import (
    CredentialsRefused,
    LockBusy,
    LockLost,
    ProviderError,
    RateLimited,
    Rejected,
    Transient,
)
from core.integration_settings import IntegrationSettings
from core.locks import OrganisationLock
from core.logging import REDACTED, scrub
from core.models import EventStatus, IntegrationStatus, Outcome
from core.runtime import Runtime
from core.store import events, integrations
from core.tables import Event, Integration, utcnow
from providers import factory
from providers.registry import provider_class
from workers import create_pacing
from workers.executor import Executor, Fate, Item
from workers.executor import Integration as Target
from workers.keeper import Keeper

log = structlog.get_logger(__name__)

#: Seconds before an event whose organisation is locked by another sync is tried again.
LOCK_WAIT_SECONDS = 0.5


@dataclass
class Claimed:
    """An event this worker claimed, its organisation's lock held, its attempt counted."""

    event: Event
    lock: OrganisationLock
    attempt: int


def process_event(rt: Runtime, event_id: str) -> str | None:
    """Run the event if it is owed and due; returns its new status (``None``: nothing to do)."""
    event = events.claim_due(rt.db, event_id, lease_seconds=rt.settings.lock_ttl_seconds)
    if event is None:
        return None
    structlog.contextvars.bind_contextvars(
        event_id=event.id, integration_id=event.integration_id,
        organisation_id=event.organisation_id,
    )
    try:
        return _run(rt, event)
    finally:
        structlog.contextvars.unbind_contextvars("event_id", "integration_id", "organisation_id")


def _run(rt: Runtime, event: Event) -> str:
    integration = integrations.get(rt.db, event.integration_id)
    refusal = _integration_refusal(integration)
    if refusal is not None:
        return _fail(rt, event, refusal, refusal)
    assert integration is not None
    size = _batch_size(rt, integration, event)
    gathering = create_pacing.Gathering(rt.redis, integration.id)
    if size > 1:
        arrival = create_pacing.arrive(rt.redis, integration.id, event.received_at, utcnow())
        if arrival.leave_to_collector:
            # Put back as a wait, as a busy lock is (``_take``): a killed worker's open attempt
            # is closed first, or the wait would erase it as its own.
            events.count_abandoned_attempt(rt.db, event.id)
            events.retry_later(rt.db, event.id, delay=0, error=None, failed_attempt=False)
            return EventStatus.QUEUED
        # A create right behind another of its integration gathers from the start: the sooner
        # the mark is up, the fewer of the burst's creates start batches of their own.
        if arrival.follows_recent_create:
            gathering.start()
    try:
        first = _take(rt, integration, event)
        if first is None:
            return EventStatus.QUEUED
        return _run_claimed(rt, integration, first, size, gathering)
    finally:
        gathering.stop()


def _run_claimed(rt: Runtime, integration: Integration, first: Claimed, size: int,
                 gathering: create_pacing.Gathering) -> str:
    """Run ``first`` (its organisation locked) with the creates that share its batch call."""
    members = [first]
    statuses: dict[str, str] = {}
    try:
        _gather_backlog(rt, integration, members, size, gathering)
        with Keeper(rt.db, ttl=rt.settings.lock_ttl_seconds, locks=[m.lock for m in members],
                    event_ids=[m.event.id for m in members]):
            started = time.perf_counter()
            executor = Executor(_target(rt, integration))
            fates = executor.run([_item(m) for m in members])
            for member in members:
                organisation = executor.organisations.get(member.event.organisation_id or 0)
                statuses[member.event.id] = _record(rt, integration, member, fates[member.event.id],
                                                    organisation.name if organisation else None)
                metrics.SYNC_SECONDS.labels(
                    provider=integration.provider_kind, status=statuses[member.event.id],
                ).observe(time.perf_counter() - started)
    finally:
        for member in members:
            member.lock.release()
    if len(members) > 1:
        log.info("batch synced", events=len(members),
                 created=sum(1 for s in statuses.values() if s == EventStatus.SUCCEEDED))
    return statuses[first.event.id]


def _batch_size(rt: Runtime, integration: Integration, event: Event) -> int:
    """How many creates may share one call with ``event`` (1: it is sent alone)."""
    size = provider_class(integration.provider_kind).max_batch
    return size if rt.settings.batch_creates and event.kind == "create" else 1


def _gather_backlog(rt: Runtime, integration: Integration, members: list[Claimed], size: int,
                    gathering: create_pacing.Gathering) -> None:
    """Add to ``members`` the creates waiting behind the first, claimed and locked to share its
    batch call (issue 8); added as each is locked, so the caller releases every lock taken.
    Part of a burst and not a batch's worth: this thread gathers the creates arriving in the next
    moment too (``workers.create_pacing``), then lets the next creates gather their own."""
    if size <= 1:
        return
    _claim_more(rt, integration, size, members)
    if len(members) < size and (gathering.collecting or (len(members) > 1 and gathering.start())):
        deadline = time.monotonic() + create_pacing.LINGER_SECONDS
        while len(members) < size and time.monotonic() < deadline:
            time.sleep(create_pacing.POLL_SECONDS)
            _claim_more(rt, integration, size, members)
    gathering.stop()


def _claim_more(rt: Runtime, integration: Integration, size: int, members: list[Claimed]) -> None:
    more = events.claim_more(
        rt.db, integration_id=integration.id, kind="create", limit=size - len(members),
        lease_seconds=rt.settings.lock_ttl_seconds, exclude=members[0].event.id,
    )
    for waiting in more:
        claimed = _take(rt, integration, waiting)
        if claimed is not None:
            members.append(claimed)


def _take(rt: Runtime, integration: Integration, event: Event) -> Claimed | None:
    """Lock the event's organisation and count the attempt; ``None`` (and the event put back
    to wait, which is not a failed attempt) when another sync holds the lock."""
    assert event.organisation_id is not None
    # An attempt a killed worker left open counts as failed, and starts the give-up clock. It is
    # closed first, before the lock is tried: a wait for the lock puts the event back with
    # ``retry_later``, which forgets the open attempt it finds as this run's own wait; left open,
    # the dead worker's attempt (a create it may have sent) would be the one erased, and its
    # number given again to the next attempt.
    events.count_abandoned_attempt(rt.db, event.id)
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
    if integration.status == IntegrationStatus.DISABLED:
        return "the integration is disabled"
    if integration.status == IntegrationStatus.RECONNECT_NEEDED:
        return integration.status_reason or "reconnect the accounting system"
    return None


def _target(rt: Runtime, integration: Integration) -> Target:
    cls = provider_class(integration.provider_kind)
    return Target(
        db=rt.db, integration_id=integration.id, policies=IntegrationSettings.of(integration).policies,
        names_unique=cls.enforces_unique_names, source=factory.rental_system(rt, integration),
        provider_factory=lambda: factory.accounting_provider(rt, integration),
        key_window=cls.idempotency_window, settings=dict(integration.settings or {}),
    )


def _item(claimed: Claimed) -> Item:
    event = claimed.event
    return Item(
        key=event.id, organisation_id=event.organisation_id or 0,
        kind="create" if event.kind == "create" else "update", lock=claimed.lock,
        attempt=f"{event.id}:{claimed.attempt}", force_write=event.force_write,
    )


# -- an event's fate, recorded once ------------------------------------------------------------
def _record(rt: Runtime, integration: Integration, claimed: Claimed, fate: Fate,
            organisation_name: str | None = None) -> str:
    """``organisation_name``: the rental system's name of the organisation, kept in the outcome
    of an event that leaves it unlinked (failed, skipped), where no link carries the name for
    the event lists (``webhooks.ops.names``)."""
    event, attempt, error = claimed.event, claimed.attempt, fate.error
    if fate.result is not None:
        result = fate.result
        outcome = result.outcome.to_dict()
        if result.status == EventStatus.SKIPPED and organisation_name:
            outcome["organisation_name"] = organisation_name
        events.finish(rt.db, event.id, status=result.status, outcome=outcome)
        log.info("event processed", status=result.status, action=result.outcome.action,
                 contact_id=result.outcome.contact_id, attempt=attempt, event_id=event.id)
        return result.status
    assert error is not None
    if isinstance(error, (LockBusy, LockLost)):
        events.retry_later(rt.db, event.id, delay=LOCK_WAIT_SECONDS, error=str(error), failed_attempt=False)
        return EventStatus.QUEUED
    if isinstance(error, RateLimited):
        return _rate_limited(rt, event, error, attempt)
    if isinstance(error, CredentialsRefused):
        integrations.set_status(rt.db, integration.id, IntegrationStatus.RECONNECT_NEEDED, scrub(error.reason))
        return _fail(rt, event, error.reason, _detail(error), organisation_name)
    if isinstance(error, Rejected):
        return _fail(rt, event, error.reason, _detail(error), organisation_name)
    if not isinstance(error, Transient):
        # Not a ProviderError: a bug or an unforeseen answer. Keep the event, retry, tell.
        log.error("sync crashed", event_id=event.id, exc_info=error)
    return _transient(rt, event, error, attempt)


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


def _fail(rt: Runtime, event: Event, reason: str, detail: str | None,
          organisation_name: str | None = None) -> str:
    # A provider's reason may quote its error body (Xero's validation message): scrubbed too.
    reason = _stored(rt, event, reason) or reason
    outcome = Outcome(action=None, reason=reason).to_dict()
    if organisation_name:
        outcome["organisation_name"] = organisation_name
    events.finish(rt.db, event.id, status=EventStatus.FAILED, outcome=outcome, error=_stored(rt, event, detail))
    log.warning("event failed", reason=reason)
    return EventStatus.FAILED


def _rate_limited(rt: Runtime, event: Event, error: RateLimited, attempt: int) -> str:
    """Our own limiter had no room: wait, not a failed attempt. A 429 from the other
    system is one (its ``Retry-After`` is honoured)."""
    if error.status is None:
        events.retry_later(rt.db, event.id, delay=error.retry_after, error=None, failed_attempt=False)
        return EventStatus.QUEUED
    return _transient(rt, event, error, attempt, at_least=error.retry_after)


#: Transient reasons end in "; will retry" while they are true; a give-up drops it.
WILL_RETRY = "; will retry"


def _transient(
    rt: Runtime, event: Event, error: BaseException, attempt: int, *, at_least: float = 0.0,
) -> str:
    settings = rt.settings
    current = events.get(rt.db, event.id)
    first_failure = (current.first_failure_at if current else None) or utcnow()
    if utcnow() - first_failure > timedelta(seconds=settings.retry_give_up_seconds):
        cause = getattr(error, "reason", None) or "the other system kept failing"
        cause = cause.removesuffix(WILL_RETRY)
        hours = settings.retry_give_up_seconds / 3600
        return _fail(rt, event, f"gave up retrying after {hours:g} hours: {cause}", _detail(error))
    delay = max(at_least, backoff(attempt, low=settings.retry_min_seconds, high=settings.retry_max_seconds))
    detail = _stored(rt, event, _detail(error))
    events.retry_later(rt.db, event.id, delay=delay, error=detail, failed_attempt=True)
    log.info("event will retry", delay=round(delay, 2), error=detail, attempt=attempt)
    return EventStatus.RETRYING
