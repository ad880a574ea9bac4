"""What one run of a bulk job carries: the job, its integration, both clients, a lock helper.

Bulk callers use ``priority="bulk"`` at the rate limiter, so live syncs are served first
(docs/architecture.md, "Invariants"); they wait longer than a live call for room (``BULK_MAX_WAIT``).
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

from core.errors import LockBusy
from core.integration_settings import IntegrationSettings
from core.locks import OrganisationLock
from core.models import Policies
from core.runtime import Runtime
from core.store import jobs
from core.store.jobs import Progress
from core.tables import Integration, Job
from providers import factory
from providers.base import AccountingProvider
from providers.current_rms import CurrentRMS
from workers.keeper import Keeper

#: Seconds a bulk call may wait for the rate limiter before ``RateLimited`` (then a pause).
BULK_MAX_WAIT = 30.0
#: Seconds to wait for an organisation whose lock a live sync holds (a sync takes about one).
LOCK_PATIENCE = 10.0
LOCK_POLL = 0.1


class Cancelled(Exception):
    """Raised inside a run when the job's cancel was asked for; steers control flow."""


@dataclass
class BulkRun:
    rt: Runtime
    job: Job
    integration: Integration
    provider: AccountingProvider
    source: CurrentRMS
    #: Counts of this pass by outcome (created, linked, unchanged...), kept in ``state``.
    summary: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(cls, rt: Runtime, job: Job, integration: Integration) -> BulkRun:
        return cls(
            rt=rt, job=job, integration=integration,
            provider=factory.accounting_provider(
                rt, integration, priority="bulk", max_wait=BULK_MAX_WAIT),
            source=factory.rental_system(rt, integration, priority="bulk"),
        )

    @property
    def policies(self) -> Policies:
        return IntegrationSettings.of(self.integration).policies

    @property
    def options(self) -> dict[str, Any]:
        return dict((self.job.state or {}).get("options", {}))

    def count(self, outcome: str, n: int = 1) -> None:
        self.summary[outcome] = self.summary.get(outcome, 0) + n

    def record(self, progress: Progress) -> None:
        """Write one batch's progress with the pass summary; raise ``Cancelled`` if asked."""
        progress.state = {**(progress.state or {}), "summary": dict(self.summary)}
        if jobs.record(self.rt.db, self.job.id, progress):
            raise Cancelled()

    @contextmanager
    def organisation_lock(self, organisation_id: int) -> Iterator[OrganisationLock]:
        """The organisation's lock, waiting a little for a live sync that holds it."""
        lock = OrganisationLock(
            self.rt.redis, integration_id=self.integration.id, organisation_id=organisation_id,
            ttl=self.rt.settings.lock_ttl_seconds,
        )
        deadline = time.monotonic() + LOCK_PATIENCE
        while not lock.acquire():
            if time.monotonic() > deadline:
                raise LockBusy("another sync held the organisation for too long",
                               organisation_id=organisation_id)
            time.sleep(LOCK_POLL)
        try:
            # Renewed while held: the TTL only covers one call (core.locks), a bulk step makes two.
            with Keeper(self.rt.db, ttl=self.rt.settings.lock_ttl_seconds, locks=[lock]):
                yield lock
        finally:
            lock.release()
