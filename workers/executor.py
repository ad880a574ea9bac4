"""The one executor: bring 1..n organisations of one integration in line (docs/architecture.md, step 5).

A live event, a tenant's backlog of creates and a bulk export page all run here. The caller has
claimed the work and holds each organisation's lock (and a ``workers.keeper.Keeper`` renewing
them). For each item the executor fetches the organisation (one call for all), asks
``core.decision.decide`` for the next step and carries it out:

- reads (look-ups) at once;
- creates are gathered and sent as ONE call: a lone create alone (its request can be sent again
  byte for byte, so a retry after a lost answer is replayed), several as the system's batch
  call. A marker recording what is sent is committed first and cleared when the create was
  certainly refused or never sent;
- what is written carries ``providers.contact_extras``: on a create the defaults, custom fields
  and the step after it (Xero's group join), on an overwrite the custom fields only; a value
  over a field's limit fails the item before any call. Matching keys other than the name use
  ``providers.search.find`` (``policies.match_on``);
- every request is fenced right before it is sent (``providers.base.FencedGate``), and every
  link is stored under a fresh fencing check.

Each item ends with exactly one ``Fate`` (a result, or the error that stopped it), which the
caller records once: an event's status (``workers.processing``), a bulk job's counts
(``workers.bulk.export``). No policy is decided here; ``decide`` holds all of it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial
from typing import Any, Callable, Mapping, Sequence

import structlog

from core.db import Database
from core.decision import (
    Create,
    CurrentLink,
    Forget,
    LinkedElsewhere,
    LinkTo,
    Lookup,
    LookUpByName,
    LookUpNamed,
    LookUpSent,
    Nothing,
    Overwrite,
    Rename,
    Resend,
    SentBefore,
    Situation,
    Step,
    already_linked,
    decide,
)
from core.errors import (
    AccountNumberClash,
    ContactNotFound,
    CredentialsRefused,
    LockLost,
    NameClash,
    ProviderError,
    RateLimited,
    Rejected,
)
from core.link_wording import account_number_refusal
from core.locks import OrganisationLock
from core.matching import Candidate, ExactlyOne, Several, Subject
from core.matching import LinkedElsewhere as MatchedElsewhere
from core.models import (
    Contact,
    ContactFields,
    EventKind,
    EventStatus,
    Organisation,
    Outcome,
    Policies,
)
from core.steps import Fail, Skip
from core.store import links
from core.store.links import ContactAlreadyLinked, LinkWrite, Marker, Sending
from core.tables import utcnow
from providers import contact_extras, search
from providers.base import AccountingProvider, BatchResult
from providers.contact_extras import Extras
from providers.current_rms import CurrentRMS

log = structlog.get_logger(__name__)

#: A sync never needs more steps than this (resend, forget, create, clash, look up, link...).
MAX_STEPS = 10

#: How a batch of creates is sent (bulk export retries passing failures inside the job), each
#: element with its extras (defaults, custom fields).
CreateBatch = Callable[[AccountingProvider, list[tuple[ContactFields, str]], list[Extras | None]],
                       list[BatchResult]]
#: A same-name look-up (bulk export answers it from a name index built once).
FindByName = Callable[[str], Contact | None]


@dataclass(frozen=True)
class Item:
    """One organisation to bring in line, its lock held."""

    key: str  #: the event id (or, for bulk work, the organisation id as text)
    organisation_id: int
    kind: EventKind
    lock: OrganisationLock
    #: This attempt, for idempotency scopes: "<event id>:<attempt number>" (bulk: job and pass).
    attempt: str
    force_write: bool = False


@dataclass(frozen=True)
class Result:
    status: str  #: "succeeded" or "skipped"
    outcome: Outcome
    #: What happened, for counts: created, adopted, linked, updated, none, skipped.
    how: str


@dataclass(frozen=True)
class Fate:
    """An item's end: a result, or the error that stopped it (never both)."""

    result: Result | None = None
    error: BaseException | None = None


@dataclass
class Integration:
    """What the executor needs to know about the integration and how to reach both systems."""

    db: Database
    integration_id: str
    policies: Policies
    #: Whether the accounting system refuses duplicate names (its provider class says so).
    names_unique: bool
    source: CurrentRMS
    #: Built only when a step needs a call (a sync needing none builds none).
    provider_factory: Callable[[], AccountingProvider]
    #: Seconds a create's idempotency key is trusted to replay (``idempotency_window``).
    key_window: float = 0.0
    #: Bulk work: how a batch is sent, and where same-name look-ups are answered.
    create_batch: CreateBatch | None = None
    find_by_name: FindByName | None = None
    #: The integration's settings: ``defaults`` (resolved) and ``mapping.custom_fields``, added
    #: to what is written (``providers.contact_extras``).
    settings: Mapping[str, Any] = field(default_factory=dict)
    _provider: AccountingProvider | None = None

    def provider(self, fence: Callable[[], None]) -> AccountingProvider:
        if self._provider is None:
            self._provider = self.provider_factory()
        self._provider.fence_with(fence)
        return self._provider


@dataclass
class _Run:
    """One item on its way: what is known so far."""

    item: Item
    situation: Situation
    marker: Marker | None = None
    #: The refusal of a re-sent create (a name clash is then the situation's clash).
    refusal: Rejected | None = None
    #: What the create adds to the mapped fields (defaults, custom fields, a group to join).
    extras: Extras | None = None

    @property
    def organisation(self) -> Organisation:
        assert self.situation.organisation is not None
        return self.situation.organisation

    @property
    def fields(self) -> ContactFields:
        """The fields a create sends: the organisation's, or the suffixed name after a clash."""
        return self.situation.renamed or self.organisation.fields

    def scope(self, operation: str) -> str:
        return f"{self.item.lock.integration_id}:{self.item.organisation_id}:{operation}:{self.item.attempt}"


class Executor:
    """Runs items of one integration; ``run`` returns each item's fate by its key."""

    def __init__(self, integration: Integration) -> None:
        self.integration = integration
        self.db = integration.db
        self.organisations: dict[int, Organisation | None] = {}
        #: The locks the next request is fenced by (the items it is made for).
        self._fencing: Sequence[OrganisationLock] = ()

    # -- the whole run ----------------------------------------------------------------------
    def run(self, items: Sequence[Item], *,
            organisations: dict[int, Organisation | None] | None = None) -> dict[str, Fate]:
        self.fates: dict[str, Fate] = {}
        self.creates: list[_Run] = []
        if organisations is None:
            try:
                organisations = self._fetch(items)
            except Exception as error:  # the rental system failed: every item carries it
                return {item.key: Fate(error=error) for item in items}
        #: What the rental system said of each organisation: the caller records the names of
        #: organisations left unlinked (an event list shows a name, not an id: issue 16).
        self.organisations = organisations
        markers = links.markers_of(self.db, self.integration.integration_id,
                                   [i.organisation_id for i in items])
        for item in items:
            run = self._start(item, organisations.get(item.organisation_id), markers.get(item.organisation_id))
            self._guarded(run, self._advance)
        while self.creates:
            batch, self.creates = self.creates, []
            self._create(batch)
        return self.fates

    def _fetch(self, items: Sequence[Item]) -> dict[int, Organisation | None]:
        source = self.integration.source
        if len(items) == 1:
            only = items[0].organisation_id
            return {only: source.get_organisation(only)}
        return dict(source.get_organisations([i.organisation_id for i in items]))

    def _start(self, item: Item, organisation: Organisation | None, marker: Marker | None) -> _Run:
        link = links.get(self.db, self.integration.integration_id, item.organisation_id)
        situation = Situation(
            kind=item.kind, organisation=organisation,
            link=CurrentLink(link.contact_id, link.fields_hash, link.status or "ok",
                             link.broken_reason) if link else None,
            policies=self.integration.policies, names_unique=self.integration.names_unique,
            force_write=item.force_write, sent=self._sent_before(marker),
        )
        return _Run(item, situation, marker)

    def _sent_before(self, marker: Marker | None) -> SentBefore | None:
        if marker is None:
            return None
        fresh = utcnow() - marker.sent_at < timedelta(seconds=self.integration.key_window)
        replayable = bool(marker.idempotency_key and marker.fields is not None and fresh)
        return SentBefore(name=marker.name, digest=marker.body_digest, replayable=replayable)

    def _guarded(self, run: _Run, step: Callable[[_Run], None]) -> None:
        """Run ``step``; whatever it raises becomes the item's fate."""
        try:
            step(run)
        except Exception as error:
            self._settle(run, Fate(error=error))

    def _settle(self, run: _Run, fate: Fate) -> None:
        assert run.item.key not in self.fates, f"{run.item.key} settled twice"
        self.fates[run.item.key] = fate

    # -- one item, step by step --------------------------------------------------------------
    def _advance(self, run: _Run) -> None:
        """Carry out ``decide``'s steps until the item is settled or waits for the batch create."""
        for _ in range(MAX_STEPS):
            step = decide(run.situation)
            if self._final(run, step):
                return
            if isinstance(step, Create):
                self.creates.append(run)
                return
            run.situation = self._carry_out(run, step)
        raise RuntimeError(f"sync did not settle within {MAX_STEPS} steps: {run.situation}")

    def _final(self, run: _Run, step: Step) -> bool:
        situation = run.situation
        if isinstance(step, Skip):
            self._settle(run, Fate(Result(EventStatus.SKIPPED, Outcome(None, reason=step.reason), "skipped")))
        elif isinstance(step, Fail):
            raise Rejected(step.reason, reason=step.reason)
        elif isinstance(step, Nothing):
            contact_id = situation.link.contact_id if situation.link else None
            self._settle(run, Fate(Result(EventStatus.SUCCEEDED, Outcome("none", contact_id=contact_id), "none")))
        elif isinstance(step, LinkTo):
            self._settle(run, Fate(self._link(run, step)))
        elif isinstance(step, Overwrite):
            contact = self._write(run, step.contact_id)
            self._store(run, contact, run.organisation.fields.digest())
            outcome = Outcome("updated", contact_id=contact.id, overwritten=True)
            self._settle(run, Fate(Result(EventStatus.SUCCEEDED, outcome, "updated")))
        else:
            return False
        return True

    def _carry_out(self, run: _Run, step: Step) -> Situation:
        """A step that adds what it learned to the situation."""
        s, organisation = run.situation, run.organisation
        if isinstance(step, LookUpNamed):
            return replace(s, named=self._look_up_named(run, step.value))
        if isinstance(step, LookUpByName):
            return replace(s, by_name=self._match(run))
        if isinstance(step, Rename):
            return replace(s, renamed=self._renamed(run), clash=None)
        if isinstance(step, Resend):
            return replace(s, resent=self._resend(run))
        if isinstance(step, LookUpSent):
            assert run.marker is not None
            return replace(s, found_sent=self._look_up_sent(run, run.marker))
        if isinstance(step, Forget):
            # The verdict on that very request (nothing found under what it sent, or its replayed
            # refusal): its marker goes, unless another attempt's has replaced it since.
            assert run.marker is not None
            links.drop_marker(self.db, self.integration.integration_id, organisation.id,
                              attempt=run.marker.attempt)
            clash = run.refusal if isinstance(run.refusal, NameClash) else None
            run.marker = None
            return replace(s, sent=None, resent=None, found_sent=None, clash=clash)
        raise AssertionError(f"unexpected step {step}")

    # -- reads ------------------------------------------------------------------------------
    def _provider(self, *locks: OrganisationLock) -> AccountingProvider:
        self._fencing = locks
        return self.integration.provider(self._fence)

    def _fence(self) -> None:
        """Right before every request: each lock it is made for must still be ours."""
        for lock in self._fencing:
            lock.check()

    def _find_by_name(self, run: _Run, name: str) -> Contact | None:
        if self.integration.find_by_name is not None:
            return self.integration.find_by_name(name)
        return self._provider(run.item.lock).find_by_name(name)

    def _match(self, run: _Run) -> Lookup:
        """``policies.match_on``, by the system's own queries (``providers.search.find``), never
        guessing: several same-name contacts (Sage keeps duplicates) fail naming them. Bulk
        work answers names from its index, which refuses several the same way."""
        organisation = run.organisation
        match_on = self.integration.policies.match_on
        # A create that would be refused for a field's length fails before any call.
        self._refuse_over_limits(run, contact_extras.for_create(self._kind(run), self.integration.settings,
                                                                 organisation))
        if self.integration.find_by_name is not None:
            return self._lookup(organisation, self._find_by_name(run, organisation.name))

        def linked_to(contact_id: str) -> int | None:
            other = links.by_contact(self.db, self.integration.integration_id, contact_id)
            return other.organisation_id if other is not None else None

        found = search.find(self._provider(run.item.lock), organisation, match_on, linked_to)
        if isinstance(found, Several):
            return Lookup(None, ambiguous=found.reason(Subject.of(organisation)))
        if isinstance(found, (ExactlyOne, MatchedElsewhere)):
            return self._lookup(organisation, _contact_of(found.candidate))
        if (self.integration.policies.on_name_clash == "suffix" and not self.integration.names_unique
                and "name" not in match_on):
            # Nothing refuses a duplicate name here (Sage): find the same-name contact ourselves.
            return Lookup(None, name_taken=self._find_by_name(run, organisation.name))
        return Lookup(None)

    def _renamed(self, run: _Run) -> ContactFields:
        """``on_name_clash: suffix``: the fields to create under ``<name> (<account number>)``."""
        organisation = run.organisation
        renamed = contact_extras.renamed_for_clash(
            self._kind(run), self.integration.policies.to_dict(), organisation.fields, organisation.id)
        if renamed is None:
            reason = f"the name '{organisation.name}' is taken and cannot be suffixed"
            raise Rejected(reason, reason=reason)
        return renamed

    def _kind(self, run: _Run) -> str:
        return self._provider(run.item.lock).kind

    @staticmethod
    def _refuse_over_limits(run: _Run, extras: Extras) -> None:
        """A value the system would refuse (field, limit) fails the event before any write."""
        if extras.refusal:
            raise Rejected(extras.refusal, reason=extras.refusal)

    def _look_up_named(self, run: _Run, value: str) -> Lookup:
        """``linked_contact_field`` names the contact by its id, else by its name."""
        provider = self._provider(run.item.lock)
        contact = provider.get_contact(value) if provider.valid_contact_id(value) else None
        if contact is None:
            contact = provider.find_by_name(value)
        return self._lookup(run.organisation, contact)

    def _look_up_sent(self, run: _Run, marker: Marker) -> Lookup:
        """The contact an earlier create made, looked up by every key it sent: its name, and
        its account number where the system keeps one (Xero ``AccountNumber``, Sage
        ``reference``; QuickBooks has none). The organisation may have been renamed since, and
        a person may have renamed the contact too: the number still finds it. Each look-up
        keeps only a contact carrying exactly what was sent, so a stranger's is never taken;
        two different contacts (one by name, one by number) are not guessed between."""
        organisation = run.organisation
        found: dict[str, Contact] = {}
        by_name = self._find_by_name(run, marker.name)
        if by_name is not None:
            found[by_name.id] = by_name
        if marker.account_number.strip():
            provider = self._provider(run.item.lock)
            for candidate in search.by_account_number(provider, organisation.id, marker.account_number):
                found.setdefault(candidate.id, _contact_of(candidate))
        if len(found) > 1:
            named = " and ".join(f"'{c.name}' ({c.id})" for c in found.values())
            return Lookup(None, ambiguous=(
                f"an earlier create of this organisation (name '{marker.name}', account number "
                f"{marker.account_number}) had its answer lost; both {named} carry what it sent, "
                "so the service will not guess which it made: link the organisation by hand"))
        return self._lookup(organisation, next(iter(found.values()), None))

    def _lookup(self, organisation: Organisation, contact: Contact | None) -> Lookup:
        if contact is None:
            return Lookup(None)
        other = links.by_contact(self.db, self.integration.integration_id, contact.id)
        if other is not None and other.organisation_id != organisation.id:
            return Lookup(contact, LinkedElsewhere(other.organisation_id, other.organisation_name))
        return Lookup(contact)

    # -- creates ----------------------------------------------------------------------------
    def _resend(self, run: _Run) -> Lookup:
        """Send the earlier create again, identical (fields and key): the system answers from
        its first reply. A refusal proves that create made nothing (it would have been replayed)."""
        marker = run.marker
        assert marker is not None and marker.fields is not None
        provider = self._provider(run.item.lock)
        try:
            extras = contact_extras.for_create(provider.kind, self.integration.settings,
                                               run.organisation, marker.fields)
            run.extras = extras
            contact = provider.create_contact(marker.fields, idempotency_key=marker.idempotency_key,
                                              extras=extras)
        except (NameClash, AccountNumberClash) as refusal:
            run.refusal = refusal
            return Lookup(None)
        except Rejected:
            # Refused in words: the system replays the earlier request's answer, so that one
            # was refused too (or never arrived); its marker goes, and the refusal fails the event.
            links.drop_marker(self.db, self.integration.integration_id, marker.organisation_id,
                              attempt=marker.attempt)
            raise
        # Anything else (our limiter, a lost lock at the fence, a 429, a 401, a timeout) says
        # nothing about the earlier request: its marker stays for the next attempt.
        return self._lookup(run.organisation, contact)

    def _create(self, runs: list[_Run]) -> None:
        """Every create waiting, in one call; each answer settles (or continues) its own item."""
        fenced: list[_Run] = []
        for run in runs:
            try:
                run.item.lock.check()
                run.extras = contact_extras.for_create(self._kind(run), self.integration.settings,
                                                       run.organisation, run.fields)
                self._refuse_over_limits(run, run.extras)
                fenced.append(run)
            except (LockLost, Rejected) as error:
                self._settle(run, Fate(error=error))
        if fenced:
            self._send_group(fenced)

    def _send_group(self, fenced: list[_Run]) -> None:
        """One create call (lone or batch) for ``fenced``; each answer settles its own item."""
        lone = len(fenced) == 1 and self.integration.create_batch is None
        sending = [Sending(r.organisation.id, r.fields, r.scope("create") if lone else "", r.item.attempt)
                   for r in fenced]
        # Committed first. Only the markers written here are this call's to clear.
        written = links.put_markers(self.db, self.integration.integration_id, sending)
        provider = self._provider(*(r.item.lock for r in fenced))
        before = provider.requests_sent()
        try:
            results = self._send_creates(provider, fenced, lone)
        except BaseException as error:
            self._forget_if_unsent(error, written, sent=provider.requests_sent() - before, lone=lone)
            for run in fenced:
                self._settle(run, Fate(error=_explained(error, run.organisation)))
            return
        stored = self._store_created([(r, a.contact) for r, a in zip(fenced, results, strict=True)
                                      if a.contact is not None])
        created: list[tuple[_Run, Contact]] = []
        for run, result in zip(fenced, results, strict=True):
            self._guarded(run, partial(self._answered, answer=result, stored=stored.get(run.item.key),
                                       created=created))
        self._after_creates(created)

    def _send_creates(self, provider: AccountingProvider, runs: list[_Run], lone: bool) -> list[BatchResult]:
        if lone:
            run = runs[0]
            try:
                return [BatchResult(contact=provider.create_contact(
                    run.fields, idempotency_key=run.scope("create"), extras=run.extras))]
            except Rejected as refusal:
                return [BatchResult(error=refusal)]
        # Each element carries its extras, built as for a lone create (defaults, custom fields).
        items = [(r.fields, r.scope("create")) for r in runs]
        extras = [r.extras for r in runs]
        if self.integration.create_batch is not None:
            return self.integration.create_batch(provider, items, extras)
        return provider.create_contacts(items, extras=extras)

    def _answered(self, run: _Run, *, answer: BatchResult, stored: Exception | None,
                  created: list[tuple[_Run, Contact]]) -> None:
        if answer.contact is not None:
            if stored is not None:
                raise stored
            self._write_link_back(run.organisation, answer.contact)
            created.append((run, answer.contact))
            outcome = Outcome("created", contact_id=answer.contact.id, overwritten=True)
            self._settle(run, Fate(Result(EventStatus.SUCCEEDED, outcome, "created")))
            return
        error = answer.error
        assert error is not None
        if isinstance(error, Rejected):  # this element was refused: it made nothing
            links.drop_marker(self.db, self.integration.integration_id, run.item.organisation_id,
                              attempt=run.item.attempt)
        if isinstance(error, NameClash):
            # Refused for its name: carry on as decide says (look up and link, or fail).
            run.situation = replace(run.situation, clash=error)
            self._advance(run)
            return
        raise _explained(error, run.organisation)

    def _after_creates(self, created: list[tuple[_Run, Contact]]) -> None:
        """What must follow the creates of one call (Xero: join the default group), once for
        all of them. The links stand either way: a failure here is logged, not retried (a retry
        would find the contacts linked)."""
        made = [(run, contact) for run, contact in created if run.extras and run.extras.after_create]
        if not made:
            return
        try:
            provider = self._provider(*(run.item.lock for run, _ in made))
            contact_extras.follow_creates(provider, [(run.extras, contact) for run, contact in made
                                                     if run.extras is not None])
        except (ProviderError, LockLost) as error:
            log.warning("after-create step failed", contact_ids=[c.id for _, c in made], error=str(error))

    def _forget_if_unsent(self, error: BaseException, written: Mapping[int, str], *, sent: int,
                          lone: bool) -> None:
        """Clear the markers this call wrote (``written``) for creates that were certainly
        refused or never sent: a retry must not take a later same-name contact for one of
        them. Certain means: no request got past the fence, or the one request of a lone create
        was answered with a refusal. Anything else (a batch that landed, then a read that lost
        the lock) stays unknown. A marker another attempt wrote is never this call's to clear."""
        if sent == 0 or (lone and sent == 1 and _refused(error)):
            links.clear_markers(self.db, self.integration.integration_id, written)

    # -- writes -----------------------------------------------------------------------------
    def _link(self, run: _Run, step: LinkTo) -> Result:
        contact, digest = step.contact, step.holds
        if step.overwrite:
            contact = self._write(run, contact.id)
            digest = run.organisation.fields.digest()
        self._store(run, contact, digest)
        how = "adopted" if step.adopted else "linked"
        outcome = Outcome("created" if step.adopted else "linked", contact_id=contact.id,
                          overwritten=step.overwrite)
        return Result(EventStatus.SUCCEEDED, outcome, how)

    def _write(self, run: _Run, contact_id: str, *, hops: int = 0) -> Contact:
        """Overwrite the contact; a contact merged into another (Xero) takes the link with it."""
        provider = self._provider(run.item.lock)
        organisation = run.organisation
        # An overwrite carries the custom fields, never the defaults (the accountant's changes stay).
        extras = contact_extras.for_update(provider.kind, self.integration.settings, organisation)
        self._refuse_over_limits(run, extras)
        try:
            contact = provider.update_contact(
                contact_id, organisation.fields, idempotency_key=run.scope(f"update:{contact_id}"),
                extras=extras)
        except AccountNumberClash as clash:
            raise _explained(clash, organisation) from clash
        except ContactNotFound:
            contact = self._successor(run, contact_id)
            if contact.id == contact_id:
                raise _relink(contact_id) from None
        if hops < 5 and contact.merged_to and contact.merged_to != contact_id:
            return self._write(run, contact.merged_to, hops=hops + 1)
        if not contact.active:
            # Xero writes into an archived contact (a merged one too: its answer to a write does
            # not carry MergedToContactID), Sage and QuickBooks into an inactive one: the write
            # landed in a contact nobody sees. Follow a merge, else ask for a relink.
            successor = self._successor(run, contact_id)
            return successor if successor.id == contact_id else self._write(run, successor.id, hops=hops + 1)
        return contact

    def _successor(self, run: _Run, contact_id: str) -> Contact:
        successor = self._provider(run.item.lock).get_contact(contact_id)
        if successor is None:
            raise _relink(contact_id)
        return successor

    def _store(self, run: _Run, contact: Contact, digest: str | None) -> None:
        """Store the link under a fresh fencing check (a sync that lost its lock stores nothing;
        its marker stays, so the retry finds what it made)."""
        run.item.lock.check()
        organisation = run.organisation
        try:
            links.save(self.db, LinkWrite(
                integration_id=self.integration.integration_id, organisation_id=organisation.id,
                organisation_name=organisation.name, contact=contact, fields_hash=digest,
                fields=organisation.fields,
            ))
        except ContactAlreadyLinked as error:
            other = LinkedElsewhere(error.link.organisation_id, error.link.organisation_name)
            reason = already_linked(contact, other, organisation)
            raise Rejected(reason, reason=reason) from None
        self._write_link_back(organisation, contact)

    def _store_created(self, created: list[tuple[_Run, Contact]]) -> dict[str, Exception | None]:
        """``_store`` for every contact one create call made, with one transaction for all
        their links (``links.save_many``; issue 18: a transaction per link was most of an
        export's local work). Each item keeps its own fencing check, and its own refusal: by
        key, ``None`` when stored, else what ``_store`` would have raised."""
        answers: dict[str, Exception | None] = {}
        writes: list[tuple[_Run, LinkWrite]] = []
        for run, contact in created:
            try:
                run.item.lock.check()
            except Exception as error:  # LockLost, or the lock's Redis gone: as _store would raise
                answers[run.item.key] = error
                continue
            writes.append((run, LinkWrite(
                integration_id=self.integration.integration_id, organisation_id=run.organisation.id,
                organisation_name=run.organisation.name, contact=contact,
                fields_hash=run.organisation.fields.digest(), fields=run.organisation.fields,
            )))
        try:
            saved = links.save_many(self.db, [write for _, write in writes])
        except Exception as error:  # the database failed: every item carries it, as _store's would
            return {**answers, **{run.item.key: error for run, _ in writes}}
        for (run, write), link in zip(writes, saved, strict=True):
            answers[run.item.key] = None
            if isinstance(link, ContactAlreadyLinked):
                other = LinkedElsewhere(link.link.organisation_id, link.link.organisation_name)
                reason = already_linked(write.contact, other, run.organisation)
                answers[run.item.key] = Rejected(reason, reason=reason)
        return answers

    def _write_link_back(self, organisation: Organisation, contact: Contact) -> None:
        """``write_link_to_field``: put the contact's web address on the organisation, once.
        The rental system answers with a ``member_update`` webhook; no mapped field changed, so
        that sync makes no call (the write does not come back as an edit)."""
        field_name = self.integration.policies.write_link_to_field
        if not field_name or not contact.url or organisation.custom_field(field_name) == contact.url:
            return
        try:
            self.integration.source.update_organisation(organisation.id, custom_fields={field_name: contact.url})
        except ProviderError as error:
            # The link stands; a failure here must not undo or repeat it. The next sync that
            # finds the field without the address writes it again.
            log.warning("link not written back", organisation_id=organisation.id, error=str(error))
            return
        link = links.get(self.db, self.integration.integration_id, organisation.id)
        if link is not None:
            links.touch(self.db, link.id, written_link=contact.url)


def _contact_of(candidate: Candidate) -> Contact:
    return Contact(id=candidate.id, name=candidate.name, email=candidate.email,
                   active=candidate.active, url=candidate.url)


def _refused(error: BaseException) -> bool:
    """An answer refusing the request: in words (4xx), its credentials, or a 429. A timeout, a
    reset or a 5xx leaves the outcome unknown."""
    if isinstance(error, RateLimited):
        return error.status is not None
    return isinstance(error, (Rejected, CredentialsRefused))


def _explained(error: BaseException, organisation: Organisation) -> BaseException:
    """An account-number clash in words an operator can act on: which number, which contact holds
    it (where the provider looked it up), where to change it."""
    if not isinstance(error, AccountNumberClash):
        return error
    explained = AccountNumberClash(
        str(error), system=error.system, status=error.status, body=error.body, number=error.number,
        holder=error.holder, reason=account_number_refusal(error, organisation.fields.account_number),
    )
    explained.__cause__ = error
    return explained


def _relink(contact_id: str) -> ContactNotFound:
    return ContactNotFound(
        f"contact {contact_id} no longer exists or is archived",
        reason=f"the linked contact {contact_id} no longer exists; relink the organisation",
    )
