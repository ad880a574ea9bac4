"""Run one ledger event: read the contact as it is now, ask ``decide_change``, carry it out.

Under the organisation's lock, like every sync, with the fencing token checked before every
write to the accounting system and before the link is stored (docs/architecture.md, invariants). The event's
fate (retry, fail, reconnect) is recorded by the same code as every sync's (``processing``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import structlog

from core.errors import AccountNumberClash, NameClash, Rejected
from core.integration_settings import IntegrationSettings
from core.ledger import (
    ARCHIVE_POLICIES,
    Drift,
    LedgerContact,
    LedgerSituation,
    LinkState,
    MarkBroken,
    OtherLink,
    Reactivate,
    ReadSurvivor,
    Recreate,
    Relink,
    Unchanged,
    WriteBack,
    archive_policy,
    decide_change,
    is_echo,
)
from core.ledger_settings import LedgerSettings
from core.locks import OrganisationLock
from core.models import Contact, EventStatus, Organisation
from core.runtime import Runtime
from core.steps import Fail, Skip
from core.store import events, integrations, links
from core.store import ledger as ledger_store
from core.store.links import ContactAlreadyLinked, LinkWrite
from core.tables import Event, Integration, Link
from providers import contact_extras, factory, stamps
from providers.changes import changes_for
from workers import processing
from workers.executor import Fate
from workers.executor import Result as _Result
from workers.keeper import Keeper

log = structlog.get_logger(__name__)

#: Steps one change can take at most (survivors of a merge chain, then the write).
MAX_STEPS = 10
#: The outcome's reason for the echo of our own write (``core.ledger.is_echo``).
ECHO = "the echo of this service's own write"


@dataclass(frozen=True)
class LedgerOutcome:
    """interface §5's outcome, plus §10's ``previous_contact_id`` and ``drift``."""

    action: str | None
    contact_id: str | None = None
    overwritten: bool = False
    reason: str | None = None
    previous_contact_id: str | None = None
    drift: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    #: The contact's own stamp as this run read it (``ledger_store.covered``).
    contact_updated_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for optional in ("previous_contact_id", "drift", "fields", "contact_updated_at"):
            if not data[optional]:
                data.pop(optional)
        return data


def process_ledger_event(rt: Runtime, event_id: str) -> str | None:
    """Run the ledger event if it is owed; its new status (``None``: nothing to do)."""
    event = ledger_store.claim(rt.db, event_id, lease_seconds=rt.settings.lock_ttl_seconds)
    if event is None:
        return None
    structlog.contextvars.bind_contextvars(event_id=event.id, integration_id=event.integration_id,
                                           organisation_id=event.organisation_id)
    try:
        return run_claimed(rt, event)
    finally:
        structlog.contextvars.unbind_contextvars("event_id", "integration_id", "organisation_id")


def run_claimed(rt: Runtime, event: Event) -> str:
    """Run a ledger event this worker already claimed (the executor may call it after its own
    claim when ``event.source == "ledger"``, which spares ``sync_event`` its look-up)."""
    integration = integrations.get(rt.db, event.integration_id)
    refusal = processing._integration_refusal(integration)
    if refusal is not None:
        return processing._fail(rt, event, refusal, refusal)
    assert integration is not None
    if event.organisation_id is None:
        events.finish(rt.db, event.id, status=EventStatus.SKIPPED, outcome=LedgerOutcome(
            None, reason=ledger_store.NOT_LINKED).to_dict())
        return EventStatus.SKIPPED
    claimed = processing._take(rt, integration, event)
    if claimed is None:
        return EventStatus.QUEUED
    try:
        with Keeper(rt.db, ttl=rt.settings.lock_ttl_seconds, locks=[claimed.lock], event_ids=[event.id]):
            try:
                fate = Fate(result=ChangeRun(rt, integration, event, claimed.lock).run())
            except Exception as error:  # its class decides the event's fate, as for a sync
                fate = Fate(error=error)
            return processing._record(rt, integration, claimed, fate)
    finally:
        claimed.lock.release()


def ledger_result(status: str, outcome: LedgerOutcome) -> _Result:
    """The executor's ``Result`` for a ledger run (its outcome carries §10's extra keys)."""
    return _Result(status=status, outcome=outcome, how=outcome.action or "skipped")  # type: ignore[arg-type]


class ChangeRun:
    """One ledger event's run: the situation, grown step by step, and what each step does."""

    def __init__(self, rt: Runtime, integration: Integration, event: Event, lock: OrganisationLock) -> None:
        self.rt, self.integration, self.event, self.lock = rt, integration, event, lock
        self.payload = event.payload or {}
        self.contact_id = str(self.payload.get("contact_id", ""))
        self.changes = changes_for(integration.provider_kind)
        self._provider: Any = None
        self.read_stamp: Any = None

    @property
    def provider(self) -> Any:
        if self._provider is None:
            self._provider = factory.accounting_provider(self.rt, self.integration)
        return self._provider

    def run(self) -> _Result:
        link = links.by_contact(self.rt.db, self.integration.id, self.contact_id)
        if link is None or link.organisation_id != self.event.organisation_id:
            # Relinked or unlinked since the change was recorded: the lock held is that of the
            # organisation it named, so nothing of another organisation's link is touched here.
            return ledger_result(EventStatus.SKIPPED, LedgerOutcome(None, self.contact_id, reason=ledger_store.NOT_LINKED))
        self.link_id = link.id
        if self._is_echo(link):
            # Nothing read, nothing written: not even the rental system is asked. A stamp to
            # the millisecond says what the contact is as of it, so this event covers the poll's
            # sight of the same stamp; one to the second was trusted only because the poll
            # compares the fields (``is_echo``), so it must not cover what the poll lists.
            stamp = link.last_written_stamp
            self.read_stamp = stamp if stamp is not None and stamp.microsecond else None
            return self._done(LedgerOutcome("none", self.contact_id, reason=ECHO))
        policies = self.integration.policies or {}
        contact = self.changes.read_contact(self.provider, self.contact_id)
        self.read_stamp = contact.updated_at if contact is not None else None
        situation = LedgerSituation(
            link=LinkState(link.organisation_id, link.organisation_name, link.contact_id,
                           link.fields_hash, getattr(link, "status", "ok") or "ok"),
            contact=contact,
            organisation=factory.rental_system(self.rt, self.integration).get_organisation(link.organisation_id),
            update_contact_on_edit=IntegrationSettings.of(self.integration).policies.update_contact_on_edit,
            on_contact_archived=archive_policy(chosen_policies(self.payload, policies)),
            compared=self.changes.COMPARED,
            merged_into=self.payload.get("merged_into"), can_reactivate=self.changes.CAN_REACTIVATE,
        )
        return self._steps(situation)

    def _is_echo(self, link: Link) -> bool:
        return is_echo(
            via=self.payload.get("via"), operation=self.payload.get("operation"),
            merged_into=self.payload.get("merged_into"), changed_at=stamps.iso(self.payload.get("changed_at")),
            link_status=link.status or "ok", last_written_stamp=link.last_written_stamp,
            poll_backstop=LedgerSettings.from_env().poll_interval_seconds > 0,
        )

    def _steps(self, s: LedgerSituation) -> _Result:
        for _ in range(MAX_STEPS):
            step = decide_change(s)
            if isinstance(step, ReadSurvivor):
                s = self._read_survivor(s, step.contact_id)
            elif isinstance(step, Reactivate):
                # Then checked as an edit: a restored contact may need the organisation's
                # fields again (QuickBooks renamed it "<name> (deleted)").
                self._fence()
                restored = self.changes.reactivate(self.provider, step.contact_id)
                # Our write too: its echo costs no call (a write-back below moves it on again).
                self._fence()
                ledger_store.set_written_stamp(self.rt.db, self.link_id, restored.updated_at)
                s = replace(s, reactivated=True,
                            contact=self.changes.read_contact(self.provider, step.contact_id))
            else:
                return self._finish(s, step)
        raise RuntimeError(f"ledger change did not settle within {MAX_STEPS} steps")

    def _finish(self, s: LedgerSituation, step: Any) -> _Result:
        assert s.link is not None
        if isinstance(step, Skip):
            return ledger_result(EventStatus.SKIPPED, LedgerOutcome(None, self.contact_id, reason=step.reason))
        if isinstance(step, Fail):
            raise Rejected(step.reason, reason=step.reason)
        if isinstance(step, Relink):
            return self._relink(s, step)
        if isinstance(step, MarkBroken):
            ledger_store.set_link_status(self.rt.db, self.link_id, "broken", step.reason)
            return self._done(LedgerOutcome("broken", self.contact_id, reason=step.reason))
        if isinstance(step, Recreate):
            return self._recreate(s)
        if isinstance(step, WriteBack):
            return self._write_back(s, step)
        if isinstance(step, Drift):
            return self._done(LedgerOutcome("none", self.contact_id, drift=list(step.fields)), s)
        assert isinstance(step, Unchanged)
        if step.repaired or s.reactivated:
            self._mark_ok()
        return self._done(LedgerOutcome("none", self.contact_id), s)

    def _read_survivor(self, s: LedgerSituation, contact_id: str) -> LedgerSituation:
        survivor = self.changes.read_contact(self.provider, contact_id) or LedgerContact(
            Contact(id=contact_id, name="", active=False), state="deleted")
        other = links.by_contact(self.rt.db, self.integration.id, contact_id)
        elsewhere = None
        if other is not None and s.link is not None and other.organisation_id != s.link.organisation_id:
            elsewhere = OtherLink(other.organisation_id, other.organisation_name)
        return replace(s, survivors=(*s.survivors, survivor), survivor_linked_elsewhere=elsewhere)

    def _relink(self, s: LedgerSituation, step: Relink) -> _Result:
        organisation, contact, digest = s.organisation, step.survivor.contact, None
        if step.overwrite:
            assert organisation is not None
            contact = self._write(step.survivor.id, organisation)
            digest = organisation.fields.digest()
        self._store(s, contact, digest)
        return self._done(LedgerOutcome("relinked", contact.id, overwritten=step.overwrite,
                                        previous_contact_id=self.contact_id))

    def _recreate(self, s: LedgerSituation) -> _Result:
        """A new contact made exactly as a live create makes one: the integration's defaults
        and custom fields added by ``contact_extras`` (the executor's own), and what must
        follow a create (Xero: the default group)."""
        organisation = s.organisation
        assert organisation is not None
        extras = contact_extras.for_create(self.integration.provider_kind, self.integration.settings or {},
                                           organisation)
        if extras.refusal:
            raise Rejected(extras.refusal, reason=extras.refusal)
        # The marker records exactly what is sent (name, account number, key), as a live
        # create's does, and is this attempt's to clear only when the create was certainly
        # refused: a name-only marker left after a clash would let a later sync adopt the
        # contact that clashed (issue 12, finding 3).
        key = self._scope("recreate")
        mine = links.put_markers(self.rt.db, self.integration.id, [links.Sending(
            organisation.id, organisation.fields, key, attempt=key)])
        self._fence()
        try:
            contact = self.provider.create_contact(organisation.fields, idempotency_key=key, extras=extras)
        except (NameClash, AccountNumberClash) as clash:
            links.clear_markers(self.rt.db, self.integration.id, mine)
            reason = (f"the contact {self.contact_id} could not be recreated: {clash.reason or clash}; "
                      "reactivate the old contact or relink the organisation instead")
            raise Rejected(reason, reason=reason) from clash
        self._store(s, contact, organisation.fields.digest())
        contact_extras.follow_create(extras, self.provider, contact, organisation_id=organisation.id)
        return self._done(LedgerOutcome("created", contact.id, overwritten=True,
                                        previous_contact_id=self.contact_id))

    def _write_back(self, s: LedgerSituation, step: WriteBack) -> _Result:
        organisation = s.organisation
        assert organisation is not None
        contact = self._write(step.contact_id, organisation)
        self._store(s, contact, organisation.fields.digest())
        return self._done(LedgerOutcome("updated", contact.id, overwritten=True, fields=list(step.fields)), s)

    def _write(self, contact_id: str, organisation: Organisation) -> Contact:
        """One overwrite with the organisation's fields ("Current RMS wins"), as a sync's
        overwrite sends it (custom fields, never defaults: ``contact_extras.for_update``). The
        key names this event: a retry of it is replayed, a later change is a new write."""
        extras = contact_extras.for_update(self.integration.provider_kind, self.integration.settings or {},
                                           organisation)
        if extras.refusal:
            raise Rejected(extras.refusal, reason=extras.refusal)
        self._fence()
        contact: Contact = self.provider.update_contact(
            contact_id, organisation.fields, idempotency_key=self._scope(f"update:{contact_id}"), extras=extras)
        return contact

    def _store(self, s: LedgerSituation, contact: Contact, digest: str | None) -> None:
        assert s.link is not None
        self._fence()
        name = s.organisation.name if s.organisation is not None else s.link.organisation_name
        try:
            links.save(self.rt.db, LinkWrite(self.integration.id, s.link.organisation_id, name,
                                             contact, digest, s.organisation.fields if s.organisation else None))
        except ContactAlreadyLinked as error:
            other = error.link
            reason = (f"contact '{contact.name}' ({contact.id}) is already linked to organisation "
                      f"{other.organisation_id} '{other.organisation_name}'")
            raise Rejected(reason, reason=reason) from None
        self._mark_ok()

    def _mark_ok(self) -> None:
        ledger_store.set_link_status(self.rt.db, self.link_id, "ok", None)

    def _fence(self) -> None:
        self.lock.check()

    def _scope(self, operation: str) -> str:
        return f"{self.integration.id}:{self.event.organisation_id}:ledger:{self.event.id}:{operation}"

    def _done(self, outcome: LedgerOutcome, s: LedgerSituation | None = None) -> _Result:
        if s is not None and s.reactivated:  # interface §10: a reactivation is ``updated``
            outcome = replace(outcome, action="updated", reason="reactivated", drift=[])
        if self.read_stamp is not None:
            outcome = replace(outcome, contact_updated_at=self.read_stamp.isoformat())
        return ledger_result(EventStatus.SUCCEEDED, outcome)


#: ``ChangeSeen.via`` of a change an operator asked for on the ops page (reactivate, recreate).
VIA_OPS = "ops"


def chosen_policies(payload: dict[str, Any], policies: dict[str, Any]) -> dict[str, Any]:
    """The integration's policies, except for an operator's action on a broken link: the ops
    page's "reactivate" or "recreate" is that archive policy applied to this one change (the
    decision itself stays ``decide_change``'s)."""
    operation = payload.get("operation")
    if payload.get("via") == VIA_OPS and operation in ARCHIVE_POLICIES:
        return {**policies, "on_contact_archived": operation}
    return policies
