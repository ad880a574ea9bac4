"""The pure policy decision: given what is known, what is the next step of a sync?

No I/O here. The worker asks ``decide`` for a step, carries it out, adds the answer to the
``Situation`` and asks again, so "create → name clash → look up → link" is a sequence of
decisions, each testable on its own (interface §5 numbers the rules used below).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

from core.errors import NameClash
from core.ledger import flagged_sync_refusal
from core.models import Contact, ContactFields, EventKind, Organisation, Policies
from core.steps import Fail, Skip


@dataclass(frozen=True)
class LinkedElsewhere:
    """The contact found is already linked to another organisation."""

    organisation_id: int
    organisation_name: str


@dataclass(frozen=True)
class Lookup:
    """The answer of a look-up: the contact (or None when there is none) and its link."""

    contact: Contact | None
    linked_elsewhere: LinkedElsewhere | None = None
    #: Several contacts match (``policies.match_on``): why the service will not guess.
    ambiguous: str | None = None
    #: No match, but a contact of the same name exists (where the system allows duplicate
    #: names, Sage): the create meets a same-name contact that is not the match.
    name_taken: Contact | None = None


@dataclass(frozen=True)
class CurrentLink:
    contact_id: str
    fields_hash: str | None
    #: ``ok`` or ``broken`` (flagged by the ledger, interface §10), with the reason it carries.
    status: str = "ok"
    broken_reason: str | None = None


@dataclass(frozen=True)
class SentBefore:
    """An earlier create of this organisation whose outcome is unknown (its marker)."""

    name: str
    #: Digest of the fields it sent ("" when not known).
    digest: str
    #: The identical request can be sent again and the system will replay its answer (a lone
    #: create, within the system's idempotency-key window); otherwise look up what was sent.
    replayable: bool


@dataclass(frozen=True)
class Situation:
    kind: EventKind
    organisation: Organisation | None  #: None: the member no longer exists
    link: CurrentLink | None
    policies: Policies
    #: Whether the accounting system itself refuses duplicate names (create first, then look up).
    names_unique: bool
    #: A replay: write the contact even if nothing changed.
    force_write: bool = False
    #: A create may already have happened: what it sent (the marker of an earlier attempt).
    sent: SentBefore | None = None
    resent: Lookup | None = None  #: answer of sending that identical create again
    found_sent: Lookup | None = None  #: answer of looking up the name and account number it sent
    named: Lookup | None = None  #: answer for ``linked_contact_field``'s value
    by_name: Lookup | None = None  #: answer for a same-name look-up
    clash: NameClash | None = None  #: the create was refused for its name
    #: ``on_name_clash: suffix``: the fields to create instead (the suffixed name).
    renamed: ContactFields | None = None


@dataclass(frozen=True)
class LookUpNamed:
    value: str


@dataclass(frozen=True)
class LookUpByName:
    pass


@dataclass(frozen=True)
class Create:
    pass


@dataclass(frozen=True)
class Rename:
    """``on_name_clash: suffix``: work out the suffixed name to create under."""


@dataclass(frozen=True)
class Resend:
    """Send the earlier create again, byte for byte, with its idempotency key."""


@dataclass(frozen=True)
class LookUpSent:
    """Look up the contact by the name (and account number) the earlier create sent."""


@dataclass(frozen=True)
class Forget:
    """The earlier create certainly made nothing: clear its marker, then decide afresh."""


@dataclass(frozen=True)
class LinkTo:
    contact: Contact
    overwrite: bool
    #: The contact is the one an interrupted create of ours made: report it as created.
    adopted: bool = False
    #: Without ``overwrite``: the digest of what the contact is known to hold (None: unknown).
    holds: str | None = None


@dataclass(frozen=True)
class Overwrite:
    contact_id: str


@dataclass(frozen=True)
class Nothing:
    why: Literal["unchanged", "policy"]


Step = Union[
    Skip, Fail, LookUpNamed, LookUpByName, Create, Rename, Resend, LookUpSent, Forget, LinkTo, Overwrite,
    Nothing,
]


def decide(s: Situation) -> Step:
    """The next step for ``s``."""
    org = s.organisation
    if org is None:
        return Skip("deleted")
    if not org.is_organisation:
        return Skip("not an organisation")
    if s.link is not None:
        return _linked(s)
    if not org.active:
        return Skip("inactive")
    named = org.custom_field(s.policies.linked_contact_field)
    if named:
        return _link_named(s, named)
    if s.sent is not None:
        return _after_unknown_create(s, s.sent)
    if _should_create(s):
        return _create(s)
    return Nothing("policy")


def _linked(s: Situation) -> Step:
    """Rule 4: overwrite a linked contact when something mapped changed (or on replay)."""
    assert s.link is not None and s.organisation is not None
    refusal = flagged_sync_refusal(s.link.status, s.link.broken_reason)
    if refusal is not None:  # never write into a contact the ledger saw archived or deleted
        return Fail(refusal)
    if not s.policies.update_contact_on_edit:
        return Nothing("policy")
    if s.force_write or s.link.fields_hash != s.organisation.fields.digest():
        return Overwrite(s.link.contact_id)
    return Nothing("unchanged")


def _link_named(s: Situation, value: str) -> Step:
    """Rule 2: the organisation names its contact (by id, else by name)."""
    if s.named is None:
        return LookUpNamed(value)
    if s.named.contact is None:
        return Fail(f"no contact '{value}' found in the accounting system (by id or by name)")
    if s.named.linked_elsewhere is not None:
        return Fail(_linked_elsewhere_reason(s, s.named.contact, s.named.linked_elsewhere))
    return LinkTo(s.named.contact, overwrite=s.policies.update_contact_on_edit)


def _should_create(s: Situation) -> bool:
    if s.kind == "create":
        return s.policies.create_contact_on_create
    return s.policies.create_contact_on_edit_if_unlinked


def _after_unknown_create(s: Situation, sent: SentBefore) -> Step:
    """An earlier attempt sent a create and never learned its outcome. Whatever the policies
    say, find that create: send it again identically (the system replays its answer: the
    contact it made, or a refusal, which proves it made none) or, where that cannot be done,
    look up what it sent. Only that contact is adopted; nothing found means nothing was made."""
    assert s.organisation is not None
    found = s.resent if sent.replayable else s.found_sent
    if found is None:
        return Resend() if sent.replayable else LookUpSent()
    if found.ambiguous is not None:  # two contacts carry what it sent: never guess
        return Fail(found.ambiguous)
    if found.contact is None:
        return Forget()
    if found.linked_elsewhere is not None:
        return Fail(_linked_elsewhere_reason(s, found.contact, found.linked_elsewhere))
    current = s.organisation.fields.digest()
    stale = s.force_write or not sent.digest or sent.digest != current
    return LinkTo(found.contact, overwrite=stale, adopted=True, holds=None if stale else current)


def _create(s: Situation) -> Step:
    """Rule 3: create, or link to the contact that matches (``policies.match_on``)."""
    by_name_wanted = s.policies.link_existing_by_name
    if s.renamed is not None:  # the suffixed create (after a clash)
        return Create() if s.clash is None else Fail(_clash_reason(s))
    # Where names are not unique (Sage) a create would happily duplicate: search first. Keys
    # other than the name are never refused by a create: look them up first everywhere.
    search_first = not s.names_unique or tuple(s.policies.match_on) != ("name",)
    if by_name_wanted and search_first and s.by_name is None:
        return LookUpByName()
    if s.by_name is not None and s.by_name.ambiguous is not None:
        return Fail(s.by_name.ambiguous)
    if s.by_name is not None and s.by_name.contact is not None:
        return _link_same_name(s, s.by_name)
    if s.clash is None:
        taken = s.by_name is not None and s.by_name.name_taken is not None
        return Rename() if taken and s.policies.on_name_clash == "suffix" else Create()
    if by_name_wanted and s.by_name is None:
        return LookUpByName()
    return _clashed(s)


def _clashed(s: Situation) -> Step:
    """The create met a same-name contact that is not the match: suffix or fail."""
    suffix = s.policies.on_name_clash == "suffix"
    return Rename() if suffix else Fail(_clash_reason(s))


def _link_same_name(s: Situation, found: Lookup) -> Step:
    assert found.contact is not None
    if found.linked_elsewhere is not None:
        return Fail(_linked_elsewhere_reason(s, found.contact, found.linked_elsewhere))
    if not s.policies.link_existing_by_name:
        return _clashed(s)
    return LinkTo(found.contact, overwrite=s.policies.update_contact_on_edit)


def _linked_elsewhere_reason(s: Situation, contact: Contact, other: LinkedElsewhere) -> str:
    assert s.organisation is not None
    return already_linked(contact, other, s.organisation)


def already_linked(contact: Contact, other: LinkedElsewhere, organisation: Organisation) -> str:
    """The one wording of "this contact belongs to another organisation"."""
    return (
        f"contact '{contact.name}' ({contact.id}) is already linked to organisation "
        f"{other.organisation_id} '{other.organisation_name}'; organisation "
        f"{organisation.id} '{organisation.name}' cannot be linked to it too"
    )


def _clash_reason(s: Situation) -> str:
    """The name is taken: by whom (the record the provider found, with its web link, where it
    looked one up: ``NameClash.holder``), and what to do."""
    assert s.organisation is not None
    name = s.organisation.name
    clash = s.clash
    holder = clash.holder if clash is not None else None
    if clash is not None and clash.existing_type and clash.existing_type != "Customer":
        kind = clash.existing_type.lower()
        who = holder.describe() if holder is not None else f"a {kind} (id {clash.existing_id})"
        return f"the name '{name}' is already used by {who}; rename the organisation or the {kind}"
    if not s.policies.link_existing_by_name:
        who = f" ({holder.describe()})" if holder is not None else ""
        return (
            f"a contact named '{name}' already exists{who}; link it by hand, or turn on "
            "link_existing_by_name"
        )
    if holder is not None:
        return (f"the name '{name}' is taken by {holder.describe()}, which is not an active "
                "customer; make it active or rename it, or rename the organisation")
    where = f" (id {clash.existing_id})" if clash is not None and clash.existing_id else ""
    return (
        f"the name '{name}' is taken by a contact{where} that is not an active customer "
        "(archived or inactive); restore or rename it, or rename the organisation"
    )
