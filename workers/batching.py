"""Coalescing: a tenant's backlog of creates becomes the provider's batch calls (issue 8).

When a worker takes a ``create`` event and more creates of the same integration are waiting,
it claims up to a batch of them (the same conditional claim as one event), locks their
organisations, fetches them from the rental system in one call, and lets each go through the
ordinary decision. The creates the decision asks for are made in ONE batch call (Xero: up to
50 contacts per ``PUT /Contacts``; QuickBooks: its batch endpoint, 30); every other step
(link by id or name, overwrite, skip) runs as it would alone. Each event keeps its own
attempt, outcome and fate; a name clash inside the batch continues on the single path.

Nothing changes for one event on an idle tenant: no backlog, no batch, no added latency.
"""
from __future__ import annotations

from typing import Callable

import structlog

from core.errors import LockLost, ProviderError, SyncError
from core.runtime import Runtime
from core.store import events
from core.tables import Event, Integration
from providers import factory
from providers.base import AccountingProvider, BatchResult
from providers.registry import provider_class
from workers.processing import Claimed, Settled, job_for, settle, take
from workers.sync import PendingCreate, SyncResult, finish_create, sync_organisation

log = structlog.get_logger(__name__)


def wanted(rt: Runtime, integration: Integration, event: Event) -> bool:
    """Only creates, only where the provider has a batch endpoint, only when switched on."""
    return (
        rt.settings.batch_creates and event.kind == "create"
        and provider_class(integration.provider_kind).max_batch > 1
    )


def run(rt: Runtime, integration: Integration, first: Claimed) -> str:
    """Sync ``first`` together with the creates waiting behind it; ``first``'s status."""
    size = provider_class(integration.provider_kind).max_batch
    more = events.claim_more(
        rt.db, integration_id=integration.id, kind="create", limit=size - 1,
        lease_seconds=rt.settings.lock_ttl_seconds, exclude=first.event.id,
    )
    members = [first] + _lock_all(rt, integration, more)
    try:
        statuses = _sync_together(rt, integration, members)
    finally:
        for claimed in members[1:]:
            claimed.lock.release()
    if len(members) > 1:
        log.info("batch synced", integration_id=integration.id, events=len(members),
                 creates=sum(1 for s in statuses.values() if s == "succeeded"))
    return statuses[first.event.id]


def _lock_all(rt: Runtime, integration: Integration, claimed_events: list[Event]) -> list[Claimed]:
    """Lock each organisation once; an event whose organisation is busy (another sync, or a
    second event for the same organisation in this batch) goes back to wait."""
    members: list[Claimed] = []
    for event in claimed_events:
        claimed = take(rt, integration, event)
        if claimed is not None:
            members.append(claimed)
    return members


def _sync_together(rt: Runtime, integration: Integration, members: list[Claimed]) -> dict[str, str]:
    source = factory.rental_system(rt, integration)
    provider_box: list[AccountingProvider] = []

    def provider() -> AccountingProvider:
        if not provider_box:
            provider_box.append(factory.accounting_provider(rt, integration))
        return provider_box[0]

    statuses: dict[str, str] = {}
    try:
        organisations = source.get_organisations([m.event.organisation_id or 0 for m in members])
    except ProviderError as error:
        return {m.event.id: _raise_for(rt, integration, m, error).status for m in members}
    pending: list[tuple[Claimed, PendingCreate]] = []
    for claimed in members:
        job = job_for(rt, integration, claimed, source=source, provider=provider)
        organisation = organisations.get(claimed.event.organisation_id or 0)
        settled = settle(rt, integration, claimed,
                         lambda job=job, o=organisation: sync_organisation(job, organisation=o, defer_create=True))
        statuses[claimed.event.id] = settled.status
        if settled.pending is not None:
            pending.append((claimed, settled.pending))
    statuses.update(_create_pending(rt, integration, pending, provider))
    return statuses


def _create_pending(
    rt: Runtime, integration: Integration, pending: list[tuple[Claimed, PendingCreate]],
    provider: Callable[[], AccountingProvider],
) -> dict[str, str]:
    """One batch call for every deferred create; each answer settles its own event."""
    fenced = []
    statuses: dict[str, str] = {}
    for claimed, create in pending:
        try:
            claimed.lock.check()  # fencing before the write, as for a single create
            fenced.append((claimed, create))
        except LockLost as error:
            statuses[claimed.event.id] = _raise_for(rt, integration, claimed, error).status
    if not fenced:
        return statuses
    try:
        results = provider().create_contacts(
            [(create.organisation.fields, create.scope) for _, create in fenced]
        )
    except SyncError as error:
        for claimed, _ in fenced:
            statuses[claimed.event.id] = _raise_for(rt, integration, claimed, error).status
        return statuses
    for (claimed, create), result in zip(fenced, results):
        statuses[claimed.event.id] = _settle_answer(rt, integration, claimed, create, result).status
    return statuses


def _settle_answer(
    rt: Runtime, integration: Integration, claimed: Claimed, create: PendingCreate, result: BatchResult,
) -> Settled:
    def finish() -> SyncResult:
        return finish_create(create, result)

    return settle(rt, integration, claimed, finish)


def _raise_for(rt: Runtime, integration: Integration, claimed: Claimed, error: BaseException) -> Settled:
    """Record ``error`` as this event's fate, exactly as if its own sync had raised it."""

    def fail() -> SyncResult:
        raise error

    return settle(rt, integration, claimed, fail)
