"""The pure decision for a change made in the accounting system (interface §10).

No I/O here. The ledger worker reads the linked contact as it is now, asks ``decide_change``
for a step, carries it out, adds the answer to the ``LedgerSituation`` and asks again, exactly as
the sync does with ``core.decision``: "merged → read the survivor → relink → overwrite" is a
sequence of decisions, each testable on its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, Union, cast

from core.models import Contact, ContactFields, Organisation
from core.steps import Fail, Skip

ArchivePolicy = Literal["flag", "reactivate", "recreate"]
ARCHIVE_POLICIES: tuple[str, ...] = ("flag", "reactivate", "recreate")
DEFAULT_ARCHIVE_POLICY: ArchivePolicy = "flag"
#: A contact merged into one that was merged again...: chains longer than this are refused.
MAX_MERGE_HOPS = 5

ContactState = Literal["active", "archived", "deleted"]


@dataclass(frozen=True)
class LedgerContact:
    """A contact as the accounting system shows it now, archived or merged ones included."""

    contact: Contact
    state: ContactState
    #: The mapped fields read back (``None`` where the answer did not carry them).
    fields: ContactFields | None = None
    #: The contact it was merged into (Xero ``MergedToContactID``; QuickBooks ``Merge``).
    merged_to: str | None = None
    #: When the system last changed it, by its own clock (the stamp a change is known by).
    updated_at: datetime | None = None

    @property
    def id(self) -> str:
        return self.contact.id


@dataclass(frozen=True)
class LinkState:
    organisation_id: int
    organisation_name: str
    contact_id: str
    fields_hash: str | None
    status: str = "ok"


@dataclass(frozen=True)
class OtherLink:
    """The survivor of a merge is already linked to this other organisation."""

    organisation_id: int
    organisation_name: str


@dataclass(frozen=True)
class LedgerSituation:
    link: LinkState | None
    #: The linked contact as it is now; ``None``: it no longer exists at all.
    contact: LedgerContact | None
    organisation: Organisation | None
    update_contact_on_edit: bool
    on_contact_archived: ArchivePolicy = DEFAULT_ARCHIVE_POLICY
    #: Fields this system gives back faithfully; only these are compared (module ``changes``).
    compared: tuple[str, ...] = ()
    #: The merge target named by the change itself (QuickBooks ``Merge`` with ``deletedId``).
    merged_into: str | None = None
    #: The merge chain followed so far: each survivor read, in order.
    survivors: tuple[LedgerContact, ...] = ()
    #: Whether the system can make an archived or deleted contact active again (per state).
    can_reactivate: bool = True
    survivor_linked_elsewhere: OtherLink | None = None
    #: A write-back already happened in this run.
    written: bool = False
    #: The contact was made active again in this run (then it is checked as an edit).
    reactivated: bool = False


@dataclass(frozen=True)
class ReadSurvivor:
    contact_id: str


@dataclass(frozen=True)
class Relink:
    """Point the link at the survivor; then overwrite it with the organisation's fields."""

    survivor: LedgerContact
    overwrite: bool


@dataclass(frozen=True)
class MarkBroken:
    reason: str


@dataclass(frozen=True)
class Reactivate:
    contact_id: str


@dataclass(frozen=True)
class Recreate:
    pass


@dataclass(frozen=True)
class WriteBack:
    contact_id: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Drift:
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Unchanged:
    """Nothing mapped differs (the echo of our own write, or an unmapped edit): no call."""

    repaired: bool = False  #: the link was ``broken`` and the contact is active again


LedgerStep = Union[Skip, Fail, ReadSurvivor, Relink, MarkBroken, Reactivate, Recreate, WriteBack, Drift, Unchanged]


def archive_policy(policies: dict[str, Any] | None) -> ArchivePolicy:
    value = (policies or {}).get("on_contact_archived") or DEFAULT_ARCHIVE_POLICY
    return cast(ArchivePolicy, value) if value in ARCHIVE_POLICIES else DEFAULT_ARCHIVE_POLICY


def decide_change(s: LedgerSituation) -> LedgerStep:
    """The next step for ``s``."""
    if s.link is None:
        return Skip("the contact is not linked to an organisation")
    first = s.merged_into or (s.contact.merged_to if s.contact is not None else None)
    if first is not None:
        return _follow_merge(s, first)
    if s.contact is None or s.contact.state != "active":
        return _gone(s)
    return _edited(s)


def _follow_merge(s: LedgerSituation, first: str) -> LedgerStep:
    """Read each survivor in turn until one was not merged again; relink to that one."""
    assert s.link is not None
    if not s.survivors:
        return ReadSurvivor(first)
    last = s.survivors[-1]
    if last.merged_to is not None:
        seen = {s.link.contact_id, *(c.id for c in s.survivors)}
        if last.merged_to in seen or len(s.survivors) >= MAX_MERGE_HOPS:
            return Fail(f"the contact {s.link.contact_id} was merged over a chain this service "
                        "cannot follow (a loop, or more than "
                        f"{MAX_MERGE_HOPS} merges); relink the organisation by hand")
        return ReadSurvivor(last.merged_to)
    if last.state != "active":
        return Fail(f"the contact {s.link.contact_id} was merged into {last.id}, which is "
                    f"{last.state} too; relink the organisation by hand")
    if s.survivor_linked_elsewhere is not None:
        other = s.survivor_linked_elsewhere
        return Fail(
            f"the contact {s.link.contact_id} of organisation {s.link.organisation_id} "
            f"'{s.link.organisation_name}' was merged into '{last.contact.name}' "
            f"({last.id}), which is already linked to organisation {other.organisation_id} "
            f"'{other.organisation_name}'; unlink one of them, then relink"
        )
    organisation = s.organisation
    overwrite = (s.update_contact_on_edit and organisation is not None
                 and organisation.is_organisation and not s.written)
    return Relink(last, overwrite=overwrite)


def _gone(s: LedgerSituation) -> LedgerStep:
    """Archived or deleted without a merge: by ``policies.on_contact_archived``."""
    assert s.link is not None
    state = s.contact.state if s.contact is not None else "deleted"
    policy = s.on_contact_archived
    restorable = s.contact is not None and s.can_reactivate
    if policy == "reactivate" and restorable and not s.reactivated:
        return Reactivate(s.contact.id)  # type: ignore[union-attr]
    organisation = s.organisation
    if policy == "recreate" and organisation is not None and organisation.is_organisation:
        return Recreate()
    why = None
    if policy == "reactivate":
        why = "the accounting system offers no way to restore it" if not restorable else "it did not stay active"
    elif policy == "recreate":
        why = "the organisation no longer exists in the rental system"
    return MarkBroken(broken_reason(s.link.contact_id, state, policy, why))


def broken_reason(contact_id: str, state: str, policy: str = "flag", why: str | None = None) -> str:
    """Words a person can act on: what happened and which action of the ops page fixes it."""
    not_applied = f" (policy '{policy}' could not be applied: {why})" if why else ""
    return (f"the linked contact {contact_id} was {state} in the accounting system{not_applied}; "
            "reactivate it, relink the organisation to another contact, recreate the contact, "
            "or unlink, then replay")


def _edited(s: LedgerSituation) -> LedgerStep:
    assert s.contact is not None and s.link is not None
    repaired = s.link.status == "broken"
    organisation = s.organisation
    if organisation is None or not organisation.is_organisation:
        if repaired:
            return Unchanged(repaired=True)
        return Skip("the linked organisation no longer exists in the rental system")
    differing = differing_fields(organisation.fields, s.contact.fields, s.compared)
    if not differing or s.written:
        return Unchanged(repaired=repaired)
    if s.update_contact_on_edit:
        return WriteBack(s.contact.id, differing)
    return Drift(differing)


def differing_fields(
    ours: ContactFields, theirs: ContactFields | None, compared: tuple[str, ...],
) -> tuple[str, ...]:
    """The mapped fields whose values differ, compared as the systems store them: trimmed,
    case-insensitive for e-mail, and an empty account number in ours is never compared (it is
    never sent empty, interface §5)."""
    if theirs is None:
        return ()
    found = []
    for name in compared:
        mine, other = _norm(name, getattr(ours, name)), _norm(name, getattr(theirs, name))
        if name == "account_number" and not mine:
            continue
        if mine != other:
            found.append(name)
    return tuple(found)


def _norm(name: str, value: str) -> str:
    value = " ".join((value or "").split())
    return value.casefold() if name in ("email", "country") else value


#: The operations a change of our own write is reported as (a create is echoed too: Xero
#: ``CREATE``, QuickBooks ``Create``). An archive, a delete or a merge is never our echo.
ECHOED_OPERATIONS = ("create", "update")
#: The channels whose stamp is the system's own stamp of the change (never ``verify``, whose
#: stamp is our clock, nor ``ops``, an operator's deliberate action).
STAMPED_CHANNELS = ("webhook", "poll")


def is_echo(
    *, via: str | None, operation: str | None, merged_into: str | None, changed_at: datetime | None,
    link_status: str, last_written_stamp: datetime | None, poll_backstop: bool = False,
) -> bool:
    """Whether a change is the echo of the service's own last write, known without a call:
    the system stamped the change exactly as it stamped the contact in its answer to that
    write (interface §10: "nothing at all for the echo of the service's own write").

    Equal stamps mean the same state of the contact; any later edit, by anyone, moves the
    stamp on, so it is never taken for an echo. When they differ (or either is unknown) the
    change is read and compared as before: the safe side. What makes the stamps equal is each
    system's own, and unconfirmed for the real ones (``webhooks/ledger_receiver.py`` says which
    field is taken for each); the poll's stamps are the contact's own field, the same field as
    the write's answer.

    A stamp shown only to the second cannot tell our write from a hand edit made within the
    same second. Sage's ``updated_at`` is such a stamp, and so is QuickBooks' ``LastUpdatedTime``
    in Intuit's documented samples (``2015-07-23T10:58:12-07:00``); Xero's are to the
    millisecond (``/Date(1498007739902)``, ``2017-06-21T01:15:39.902``), and one that falls on
    ``.000`` is treated as such a stamp too. A webhook's such stamp is trusted only with
    ``poll_backstop``: while the ledger poll runs, it lists the contact in full from a
    watermark no later than that second (its query is inclusive) and compares it field by field
    with our last write (``is_polled_echo``), so a hand edit in the same second is caught there,
    at the next poll, at no extra call. With the poll off, or for a change the poll itself
    recorded (it found the fields differ, or could not compare them), such a stamp is read and
    compared, one read."""
    if via not in STAMPED_CHANNELS or operation not in ECHOED_OPERATIONS or merged_into:
        return False
    if link_status != "ok" or changed_at is None or last_written_stamp is None:
        return False
    if changed_at != last_written_stamp:
        return False
    to_the_second = changed_at.microsecond == 0
    return not to_the_second or (poll_backstop and via == "webhook")


def is_polled_echo(
    seen: LedgerContact | None, *, link_status: str | None, written: ContactFields | None,
    compared: tuple[str, ...],
) -> bool:
    """Whether a contact a poll listed in full is exactly what the service last wrote to it,
    known without a call: active, not merged, its link sound, and every compared field as that
    write sent it (``differing_fields``, as the system stores them).

    The listing is the read: the worker would only read the same contact again to compare it
    with the same result, nothing to write back and no drift. A hand edit made since moves the
    contact's stamp and shows in the next poll. Where the fields of the last write are unknown
    (a link made before they were kept, or by hand), the change is read as before. This is how
    a Sage echo costs no call (Sage has no webhooks; its stamps, to the second, cannot be
    trusted alone: ``is_echo``), and a QuickBooks one that Change Data Capture lists."""
    if seen is None or seen.fields is None or seen.state != "active" or seen.merged_to:
        return False
    if link_status != "ok" or written is None:
        return False
    return not differing_fields(written, seen.fields, compared)


@dataclass(frozen=True)
class ChangeSeen:
    """One change to one contact, from a webhook or the ledger poll."""

    contact_id: str
    changed_at: datetime
    #: ``webhook`` or ``poll`` (or ``verify``).
    via: str
    operation: str = "update"
    merged_into: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    #: The digest of the fields a poll listed (``source_event_id``); not part of the payload.
    listed_digest: str | None = None

    def source_event_id(self) -> str:
        """``ledger:<contact id>:<the change's own stamp, UTC, to the millisecond>``.

        Why these two: a webhook and the poll that report one change agree on the contact and
        on the stamp the system gave the change (QuickBooks ``lastUpdated`` is the customer's
        ``MetaData.LastUpdatedTime``; Xero ``eventDateUtc`` and ``UpdatedDateUTC``, Sage
        ``updated_at``), and on nothing else: the poll has no delivery id. Two changes of one
        contact have two stamps, so a later change is a new event, never swallowed (rounding
        to the second would swallow a hand edit made in the second of our own write). Where two
        channels stamp one change differently (Xero's two stamps may differ by milliseconds),
        ``ledger_store.covered`` keeps it to one event: an event that will read, or has read,
        the contact since the change covers it.

        A stamp only to the second (Sage, QuickBooks as documented) cannot tell two changes of
        one second apart, so a poll that listed the contact adds what it listed
        (``listed_digest``): a hand edit in the second of our own write is then a change of its
        own, where the webhook of that write and the poll that lists our write are still one."""
        stamp = self.changed_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        suffix = f":merged:{self.merged_into}" if self.merged_into else ""
        if self.listed_digest and self.changed_at.microsecond == 0:
            suffix += f":{self.listed_digest[:16]}"
        return f"ledger:{self.contact_id}:{stamp}{suffix}"[:120]

    def payload(self) -> dict[str, Any]:
        return {"contact_id": self.contact_id, "changed_at": self.changed_at.isoformat(),
                "via": self.via, "operation": self.operation, "merged_into": self.merged_into,
                **({"detail": self.detail} if self.detail else {})}


def flagged_sync_refusal(link_status: str | None, broken_reason_text: str | None) -> str | None:
    """For ``core.decision`` (owned by the sync): a sync of an organisation whose link is
    ``broken`` fails with this reason instead of writing into an archived contact."""
    if link_status != "broken":
        return None
    return broken_reason_text or (
        "the linked contact was archived or deleted in the accounting system; reactivate it, "
        "relink, recreate or unlink, then replay")
