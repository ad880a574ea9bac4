"""Bulk export: every active organisation without a link gets a contact, or a same-name link.

Organisations stream from the rental system one page at a time and gather into batches of the
provider's batch size (Xero 50 per ``PUT /Contacts``, QuickBooks 30 per ``/batch``, Sage 1),
so memory stays flat however many there are. Each batch runs through the one executor
(``workers.executor``), under its organisations' locks, exactly as a backlog of live creates
does: ``decide`` chooses create, same-name link or adoption; the creates go out as one batch
call (retried through passing failures, ``workers.bulk.batches``); a marker recording what was
sent lets a restart after a killed run adopt what that run made instead of creating it twice.
The integration's defaults and custom fields go into each create body as in a live create
(``providers.contact_extras``, carried by the batch call). What is bulk's own: the policies of an export (create every unlinked organisation; link a
same-name contact without writing it), a name index built once where names are not unique
(Sage), and counting each fate on the job.

Resuming needs no cursor: a linked organisation costs nothing, a marked one is adopted, and
one that failed before (its error is still on the job) is not tried again in the same job.
"""
from __future__ import annotations

from contextlib import ExitStack
from dataclasses import replace
from itertools import islice

import structlog

from core.errors import LockBusy, Rejected, SyncError
from core.locks import OrganisationLock
from core.models import ContactFields, Organisation, Policies
from core.store import jobs
from core.store.jobs import Progress
from providers.base import AccountingProvider, BatchResult
from providers.contact_extras import Extras
from workers.bulk import batch_store, organisations
from workers.bulk.batches import create_with_retries
from workers.bulk.names import NameIndex
from workers.bulk.run import BulkRun
from workers.executor import Executor, Fate, Integration, Item
from workers.keeper import Keeper

log = structlog.get_logger(__name__)

#: Organisations passed over between two progress writes while nothing needs creating.
PROGRESS_EVERY = 100
#: Organisations whose links are read in one query (the rental system's page size).
PAGE = 100


def batch_size(run: BulkRun) -> int:
    """The provider's batch size, or a smaller one asked for with the job (``batch_size``)."""
    asked = run.options.get("batch_size")
    largest = max(1, run.provider.max_batch)
    return min(largest, max(1, int(asked))) if asked else largest


class Exporter:
    """One pass over the rental system's organisations (see the module docstring)."""

    def __init__(self, run: BulkRun) -> None:
        self.run = run
        self.db = run.rt.db
        self.integration_id = run.integration.id
        self.batch_size = batch_size(run)
        self.failed_before = {
            e["organisation_id"] for e in run.job.errors or []
            if isinstance(e, dict) and "organisation_id" in e
        }
        self.names: NameIndex | None = None
        self.executor: Executor | None = None
        self.pending: list[Organisation] = []
        self.progress = Progress()
        self.seen = 0

    def export(self) -> None:
        jobs.restart_counts(self.db, self.run.job.id,
                            total=organisations.count_active(self.run.source))
        policies = self.run.policies
        if policies.link_existing_by_name and not self.run.provider.enforces_unique_names:
            self.names = NameIndex.build(self.run.provider)
        organisations_in = self.run.source.iter_organisations()
        while page := list(islice(organisations_in, PAGE)):
            linked = batch_store.linked_among(self.db, self.integration_id, [o.id for o in page])
            for organisation in page:
                self._consider(organisation, organisation.id in linked)
                if len(self.pending) >= self.batch_size or (
                    not self.pending and self.seen % PROGRESS_EVERY == 0
                ):
                    self._flush()
        self._flush(total=self.seen)

    # -- one organisation at a time ---------------------------------------------------------
    def _consider(self, organisation: Organisation, linked: bool) -> None:
        self.seen += 1
        if not organisation.is_organisation or not organisation.active:
            self._done("skipped")
        elif linked:
            self._done("already_linked")
        elif organisation.id in self.failed_before:
            self.progress.failed += 1  # its error is on the job already
            self.run.count("failed")
        else:
            self.pending.append(organisation)

    def _flush(self, *, total: int | None = None) -> None:
        batch, self.pending = self.pending, []
        if batch:
            self._export_batch(batch)
        self.progress.total = total
        progress, self.progress = self.progress, Progress()
        self.run.record(progress)

    # -- one batch --------------------------------------------------------------------------
    def _export_batch(self, batch: list[Organisation]) -> None:
        with ExitStack() as stack:
            held: dict[int, OrganisationLock] = {}
            for organisation in batch:
                try:
                    held[organisation.id] = stack.enter_context(
                        self.run.organisation_lock(organisation.id))
                except LockBusy as busy:
                    self._fail(organisation, busy.reason)
            items = [Item(key=str(o.id), organisation_id=o.id, kind="create", lock=held[o.id],
                          attempt=f"job:{self.run.job.id}") for o in batch if o.id in held]
            with Keeper(self.db, ttl=self.run.rt.settings.lock_ttl_seconds, locks=list(held.values())):
                fates = self._executor().run(items, organisations={o.id: o for o in batch})
        self._count(batch, fates)

    def _executor(self) -> Executor:
        if self.executor is None:
            run = self.run
            self.executor = Executor(Integration(
                db=self.db, integration_id=self.integration_id, policies=export_policies(run.policies),
                names_unique=run.provider.enforces_unique_names, source=run.source,
                provider_factory=lambda: run.provider, key_window=run.provider.idempotency_window,
                create_batch=_create_batch, find_by_name=self.names.get if self.names else None,
                # Defaults and custom fields: each create body is built as a live create's is.
                settings=dict(run.integration.settings or {}),
            ))
        return self.executor

    def _count(self, batch: list[Organisation], fates: dict[str, Fate]) -> None:
        """Each organisation's fate, counted once; a failure that may pass stops the job
        (starting it again resumes: the markers let it adopt what this run made)."""
        passing: SyncError | None = None
        for organisation in batch:
            fate = fates.get(str(organisation.id))
            if fate is None:
                continue  # its lock was busy: failed above
            if fate.result is not None:
                how = fate.result.how
                self._done("already_linked" if how == "none" else how)
                contact_id = fate.result.outcome.contact_id
                if self.names is not None and contact_id and how in ("created", "adopted", "linked"):
                    self.names.taken(contact_id, organisation.name)
            elif isinstance(fate.error, Rejected):
                self._fail(organisation, _reason(fate.error))
            elif isinstance(fate.error, SyncError):
                passing = passing or fate.error
            else:
                raise fate.error or RuntimeError("no fate")
        if passing is not None:
            raise passing

    # -- outcomes ---------------------------------------------------------------------------
    def _done(self, outcome: str) -> None:
        self.progress.done += 1
        self.run.count(outcome)

    def _fail(self, organisation: Organisation, reason: str) -> None:
        self.progress.failed += 1
        self.progress.errors.append(
            {"organisation_id": organisation.id, "name": organisation.name, "error": reason})
        self.run.count("failed")


def export_policies(policies: Policies) -> Policies:
    """An export creates every unlinked organisation, and links a same-name contact without
    writing it (its next edit brings it in line, interface §5 rule 4)."""
    return replace(policies, create_contact_on_create=True, update_contact_on_edit=False)


def _create_batch(provider: AccountingProvider, items: list[tuple[ContactFields, str]],
                  extras: list[Extras | None]) -> list[BatchResult]:
    return create_with_retries(provider, items, extras)


def _reason(error: Exception | None) -> str:
    if isinstance(error, Rejected):
        return error.reason if error.reason != Rejected.reason else str(error)
    return str(error) or "the accounting system refused the contact"


def run_export(run: BulkRun) -> None:
    Exporter(run).export()
