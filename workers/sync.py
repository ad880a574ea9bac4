"""Sync one organisation: fetch it, ask ``decide`` step by step, carry out each step.

Called with the organisation's lock held. Every write to the accounting system is preceded by
the lock's fencing check, and every create by a "create pending" marker, so neither a stalled
worker nor a killed one can leave two contacts behind (DESIGN invariants).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import structlog

from core.decision import (
    Create, CurrentLink, Fail, LinkedElsewhere, LinkTo, Lookup, LookUpByName, LookUpNamed,
    Nothing, Overwrite, Situation, Skip, decide,
)
from core.errors import AccountNumberClash, ContactNotFound, NameClash, Rejected
from core.locks import OrganisationLock
from core.models import Contact, EventKind, Organisation, Outcome, Policies
from core.store import links
from core.store.links import ContactAlreadyLinked, LinkWrite
from core.db import Database
from providers.base import AccountingProvider, BatchResult
from providers.current_rms import CurrentRMS

log = structlog.get_logger(__name__)

#: A sync never needs more steps than this (look up, create, clash, look up, link).
MAX_STEPS = 8


@dataclass(frozen=True)
class SyncResult:
    status: str  #: "succeeded" or "skipped"
    outcome: Outcome


@dataclass
class SyncJob:
    """Everything one sync needs; the provider is built only when a step needs it."""

    db: Database
    integration_id: str
    policies: Policies
    organisation_id: int
    kind: EventKind
    force_write: bool
    source: CurrentRMS
    provider_factory: Callable[[], AccountingProvider]
    #: Whether the accounting system refuses duplicate names (its provider class says so); kept
    #: here so that a sync needing no call builds no provider (no token, no limiter).
    names_unique: bool
    lock: OrganisationLock | None = None
    _provider: AccountingProvider | None = None

    @property
    def provider(self) -> AccountingProvider:
        if self._provider is None:
            self._provider = self.provider_factory()
        return self._provider


@dataclass(frozen=True)
class PendingCreate:
    """A create the caller will make in a batch call (``defer_create``); hand its answer to
    ``finish_create``."""

    job: SyncJob
    organisation: Organisation
    situation: Situation

    @property
    def scope(self) -> str:
        return _scope(self.job, "create")


#: ``sync_organisation``'s default: fetch the organisation from the rental system.
FETCH: object = object()


def sync_organisation(
    job: SyncJob, *, organisation: Organisation | None | object = FETCH, defer_create: bool = False,
) -> SyncResult | PendingCreate:
    """Bring the organisation's contact in line with its latest state (CONTRACT §5).

    ``organisation`` may be given when it was fetched with others (``None``: deleted); with
    ``defer_create`` a create is returned as a ``PendingCreate`` instead of being made."""
    if organisation is FETCH:
        organisation = job.source.get_organisation(job.organisation_id)
    assert organisation is None or isinstance(organisation, Organisation)
    situation = Situation(
        kind=job.kind, organisation=organisation, link=_current_link(job),
        policies=job.policies, names_unique=job.names_unique,
        force_write=job.force_write,
        create_pending=links.has_marker(job.db, job.integration_id, job.organisation_id),
    )
    return _run_steps(job, situation, defer_create=defer_create)


def finish_create(pending: PendingCreate, result: BatchResult) -> SyncResult:
    """Settle a batched create: store the link, or carry on after a name clash (look up and
    link) exactly as a single create would; other refusals raise as they would there."""
    if result.contact is not None:
        return _created(pending.job, pending.organisation, result.contact)
    if isinstance(result.error, NameClash):
        return _run_steps(pending.job, replace(pending.situation, clash=result.error))  # type: ignore[return-value]
    if isinstance(result.error, AccountNumberClash):
        raise _explained(result.error, pending.organisation)
    assert result.error is not None
    raise result.error


def _run_steps(job: SyncJob, situation: Situation, *, defer_create: bool = False) -> SyncResult | PendingCreate:
    organisation = situation.organisation
    for _ in range(MAX_STEPS):
        step = decide(situation)
        if isinstance(step, Skip):
            return SyncResult("skipped", Outcome(action=None, reason=step.reason))
        if isinstance(step, Fail):
            raise Rejected(step.reason, reason=step.reason)
        if isinstance(step, Nothing):
            link = situation.link
            return SyncResult("succeeded", Outcome("none", contact_id=link.contact_id if link else None))
        assert organisation is not None
        if isinstance(step, LookUpNamed):
            situation = replace(situation, named=_look_up_named(job, organisation, step.value))
        elif isinstance(step, LookUpByName):
            found = job.provider.find_by_name(organisation.name)
            situation = replace(situation, by_name=_lookup(job, organisation, found))
        elif isinstance(step, Create) and defer_create:
            links.put_marker(job.db, job.integration_id, organisation.id, organisation.name)
            return PendingCreate(job, organisation, situation)
        elif isinstance(step, Create):
            try:
                return _create(job, organisation)
            except NameClash as clash:
                situation = replace(situation, clash=clash)
        elif isinstance(step, LinkTo):
            return _link(job, organisation, step)
        elif isinstance(step, Overwrite):
            return _overwrite(job, organisation, step.contact_id)
    raise RuntimeError(f"sync did not settle within {MAX_STEPS} steps: {situation}")


def _current_link(job: SyncJob) -> CurrentLink | None:
    link = links.get(job.db, job.integration_id, job.organisation_id)
    return CurrentLink(link.contact_id, link.fields_hash) if link else None


def _lookup(job: SyncJob, organisation: Organisation, contact: Contact | None) -> Lookup:
    if contact is None:
        return Lookup(None)
    other = links.by_contact(job.db, job.integration_id, contact.id)
    if other is not None and other.organisation_id != organisation.id:
        return Lookup(contact, LinkedElsewhere(other.organisation_id, other.organisation_name))
    return Lookup(contact)


def _look_up_named(job: SyncJob, organisation: Organisation, value: str) -> Lookup:
    """``linked_contact_field`` names the contact by its id, else by its name."""
    contact = job.provider.get_contact(value) if job.provider.valid_contact_id(value) else None
    if contact is None:
        contact = job.provider.find_by_name(value)
    return _lookup(job, organisation, contact)


def _explained(error: AccountNumberClash, organisation: Organisation) -> AccountNumberClash:
    """The clash in words an operator can act on: which number, and where to change it."""
    number = organisation.fields.account_number
    explained = AccountNumberClash(
        str(error), system=error.system, status=error.status, body=error.body,
        reason=(f"the account number {number} is already used by another contact in the "
                "accounting system; change the organisation's account number in Current RMS "
                "(or the other contact's), then replay"),
    )
    explained.__cause__ = error
    return explained


def _fence(job: SyncJob) -> None:
    """Before every write: the lock must still be ours (a stalled worker stops here)."""
    if job.lock is not None:
        job.lock.check()


def _scope(job: SyncJob, operation: str) -> str:
    return f"{job.integration_id}:{job.organisation_id}:{operation}"


def _create(job: SyncJob, organisation: Organisation) -> SyncResult:
    links.put_marker(job.db, job.integration_id, organisation.id, organisation.name)
    _fence(job)
    try:
        contact = job.provider.create_contact(organisation.fields, idempotency_key=_scope(job, "create"))
    except AccountNumberClash as clash:
        raise _explained(clash, organisation) from clash
    return _created(job, organisation, contact)


def _created(job: SyncJob, organisation: Organisation, contact: Contact) -> SyncResult:
    _store(job, organisation, contact, organisation.fields.digest())
    return SyncResult("succeeded", Outcome("created", contact_id=contact.id, overwritten=True))


def _link(job: SyncJob, organisation: Organisation, step: LinkTo) -> SyncResult:
    contact, digest = step.contact, None
    if step.overwrite:
        contact = _write(job, organisation, contact.id)
        digest = organisation.fields.digest()
    _store(job, organisation, contact, digest)
    action = "created" if step.adopted else "linked"
    return SyncResult("succeeded", Outcome(action, contact_id=contact.id, overwritten=step.overwrite))


def _overwrite(job: SyncJob, organisation: Organisation, contact_id: str) -> SyncResult:
    contact = _write(job, organisation, contact_id)
    _store(job, organisation, contact, organisation.fields.digest())
    return SyncResult("succeeded", Outcome("updated", contact_id=contact.id, overwritten=True))


def _write(job: SyncJob, organisation: Organisation, contact_id: str) -> Contact:
    """Overwrite the contact; a contact merged into another (Xero) takes the link with it."""
    _fence(job)
    try:
        contact = job.provider.update_contact(
            contact_id, organisation.fields, idempotency_key=_scope(job, f"update:{contact_id}")
        )
    except AccountNumberClash as clash:
        raise _explained(clash, organisation) from clash
    except ContactNotFound:
        contact = _successor(job, contact_id)
        if contact.id == contact_id:
            raise _relink(contact_id) from None
    if contact.merged_to and contact.merged_to != contact_id:
        return _write(job, organisation, contact.merged_to)
    if not contact.active:
        # Xero writes into an archived contact (a merged one too: its answer to a write does
        # not carry MergedToContactID), Sage and QuickBooks into an inactive one: the write
        # landed in a contact nobody sees. Follow a merge, else ask for a relink.
        successor = _successor(job, contact_id)
        return successor if successor.id == contact_id else _write(job, organisation, successor.id)
    return contact


def _successor(job: SyncJob, contact_id: str) -> Contact:
    """The active contact now standing for ``contact_id`` (itself, or the contact a Xero
    merge made it into); ``ContactNotFound`` asking for a relink when there is none."""
    successor = job.provider.get_contact(contact_id)
    if successor is None:
        raise _relink(contact_id)
    return successor


def _relink(contact_id: str) -> ContactNotFound:
    return ContactNotFound(
        f"contact {contact_id} no longer exists or is archived",
        reason=f"the linked contact {contact_id} no longer exists; relink the organisation",
    )


def _store(job: SyncJob, organisation: Organisation, contact: Contact, digest: str | None) -> None:
    try:
        links.save(job.db, LinkWrite(
            integration_id=job.integration_id, organisation_id=organisation.id,
            organisation_name=organisation.name, contact=contact, fields_hash=digest,
        ))
    except ContactAlreadyLinked as error:
        other = error.link
        raise Rejected(reason=(
            f"contact '{contact.name}' ({contact.id}) is already linked to organisation "
            f"{other.organisation_id} '{other.organisation_name}'"
        )) from None
    _write_link_back(job, organisation, contact)


def _write_link_back(job: SyncJob, organisation: Organisation, contact: Contact) -> None:
    """``write_link_to_field``: put the contact's web address on the organisation, once.
    The rental system answers with a ``member_update`` webhook; no mapped field changed, so
    that sync makes no call (the write does not come back as an edit)."""
    field = job.policies.write_link_to_field
    if not field or not contact.url or organisation.custom_field(field) == contact.url:
        return
    job.source.update_organisation(organisation.id, custom_fields={field: contact.url})
    link = links.get(job.db, job.integration_id, organisation.id)
    if link is not None:
        links.touch(job.db, link.id, written_link=contact.url)

