"""Bulk export: every active organisation without a link gets a contact, or a same-name link.

Organisations stream from the rental system one page at a time and gather into batches of the
provider's batch size (Xero 50 per ``PUT /Contacts``, QuickBooks 30 per ``/batch``, Sage 1),
so memory stays flat however many there are. For each batch, under the organisations' locks:

1. an organisation with a "create pending" marker (a run killed mid-batch) is looked up by
   name first and the contact found adopted, so a restart creates nothing twice;
2. where names are not unique (Sage) and ``link_existing_by_name`` is on, the contact of the
   same name is taken from a name index built once from ``list_contacts``;
3. the rest get a marker each, then one batch create; an element refused for its name is
   looked up by name and linked if it is an active, unlinked customer: a read, not a write.

Resuming needs no cursor: a linked organisation costs nothing, a marked one is adopted, and
one that failed before (its error is still on the job) is not tried again in the same job.
"""
from __future__ import annotations

from contextlib import ExitStack
from itertools import islice

import structlog

from core.errors import LockBusy, NameClash, ProviderError, Rejected
from core.locks import OrganisationLock
from core.models import Contact, Organisation
from core.store import jobs, links
from core.store.jobs import Progress
from core.store.links import ContactAlreadyLinked, LinkWrite
from workers.bulk import batch_store, organisations
from workers.bulk.batches import create_with_retries
from workers.bulk.names import NameIndex
from workers.bulk.run import BulkRun

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
            ids = list(held)
            linked = batch_store.linked_among(self.db, self.integration_id, ids)
            marked = batch_store.marked_among(self.db, self.integration_id, ids)
            to_create = [o for o in batch if o.id in held
                         and self._needs_create(o, o.id in linked, o.id in marked)]
            if to_create:
                self._create(to_create, [held[o.id] for o in to_create])

    def _needs_create(self, organisation: Organisation, linked: bool, marked: bool) -> bool:
        """Under the lock: linked meanwhile, adoptable after a killed run, or same-name."""
        if linked:
            self._done("already_linked")
            return False
        if marked or self.names is not None:
            found = self._by_name(organisation.name)
            if found is not None and self._unlinked(found, organisation):
                self._link(organisation, found, None, "adopted" if marked else "linked")
                return False
        return True

    def _create(self, batch: list[Organisation], held: list[OrganisationLock]) -> None:
        batch_store.put_markers(self.db, self.integration_id, batch)  # committed before the call
        items = [(o.fields, f"{self.integration_id}:{o.id}:create") for o in batch]
        results = create_with_retries(self.run.provider, items, fence=held)
        for organisation, result in zip(batch, results):
            if result.contact is not None:
                self._link(organisation, result.contact, organisation.fields.digest(), "created")
            elif isinstance(result.error, NameClash):
                self._after_clash(organisation, result.error)
            else:
                self._fail(organisation, _reason(result.error))

    def _after_clash(self, organisation: Organisation, clash: NameClash) -> None:
        name = organisation.name
        if clash.existing_type and clash.existing_type != "Customer":
            kind = clash.existing_type.lower()
            return self._fail(organisation, f"the name '{name}' is already used by a {kind} "
                                            f"(id {clash.existing_id}); rename one of them")
        if not self.run.policies.link_existing_by_name:
            return self._fail(organisation, f"a contact named '{name}' already exists; link it "
                                            "by hand, or turn on link_existing_by_name")
        found = self.run.provider.find_by_name(name)
        if found is None:
            return self._fail(organisation, f"the name '{name}' is taken by a contact that is "
                                            "not an active customer (archived or inactive)")
        if self._unlinked(found, organisation):
            self._link(organisation, found, None, "linked")

    # -- outcomes ---------------------------------------------------------------------------
    def _by_name(self, name: str) -> Contact | None:
        if self.names is not None:
            return self.names.get(name)
        return self.run.provider.find_by_name(name)

    def _unlinked(self, contact: Contact, organisation: Organisation) -> bool:
        other = links.by_contact(self.db, self.integration_id, contact.id)
        if other is None or other.organisation_id == organisation.id:
            return True
        self._fail(organisation, f"contact '{contact.name}' ({contact.id}) is already linked to "
                                 f"organisation {other.organisation_id} '{other.organisation_name}'")
        return False

    def _link(self, organisation: Organisation, contact: Contact, digest: str | None,
              outcome: str) -> None:
        """Store the link; ``digest`` None means "linked without writing": the organisation's
        next edit brings the contact in line (CONTRACT §5 rule 4)."""
        try:
            links.save(self.db, LinkWrite(
                integration_id=self.integration_id, organisation_id=organisation.id,
                organisation_name=organisation.name, contact=contact, fields_hash=digest,
            ))
        except ContactAlreadyLinked as error:
            return self._fail(organisation, f"contact {contact.id} is already linked to "
                                            f"organisation {error.link.organisation_id}")
        if self.names is not None:
            self.names.taken(contact)
        self._write_link_back(organisation, contact)
        self._done(outcome)

    def _write_link_back(self, organisation: Organisation, contact: Contact) -> None:
        """``write_link_to_field``, as a live sync does; a failure here does not undo the link."""
        field = self.run.policies.write_link_to_field
        if not field or not contact.url or organisation.custom_field(field) == contact.url:
            return
        try:
            self.run.source.update_organisation(organisation.id, custom_fields={field: contact.url})
        except ProviderError as error:
            log.warning("bulk export: link not written back", organisation_id=organisation.id,
                        error=str(error))
            return
        link = links.get(self.db, self.integration_id, organisation.id)
        if link is not None:
            links.touch(self.db, link.id, written_link=contact.url)

    def _done(self, outcome: str) -> None:
        self.progress.done += 1
        self.run.count(outcome)

    def _fail(self, organisation: Organisation, reason: str) -> None:
        self.progress.failed += 1
        self.progress.errors.append(
            {"organisation_id": organisation.id, "name": organisation.name, "error": reason})
        self.run.count("failed")


def _reason(error: Exception | None) -> str:
    if isinstance(error, Rejected):
        return error.reason if error.reason != Rejected.reason else str(error)
    return str(error) or "the accounting system refused the contact"


def run_export(run: BulkRun) -> None:
    Exporter(run).export()
