"""The pure policy decision: given what is known, what is the next step of a sync?

No I/O here. The worker asks ``decide`` for a step, carries it out, adds the answer to the
``Situation`` and asks again, so "create → name clash → look up → link" is a sequence of
decisions, each testable on its own (CONTRACT §5 numbers the rules used below).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

from core.errors import NameClash
from core.models import Contact, EventKind, Organisation, Policies


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


@dataclass(frozen=True)
class CurrentLink:
    contact_id: str
    fields_hash: str | None


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
    #: A create may already have happened (marker left by an earlier attempt).
    create_pending: bool = False
    named: Lookup | None = None  #: answer for ``linked_contact_field``'s value
    by_name: Lookup | None = None  #: answer for a same-name look-up
    clash: NameClash | None = None  #: the create was refused for its name


@dataclass(frozen=True)
class Skip:
    reason: str


@dataclass(frozen=True)
class Fail:
    reason: str


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
class LinkTo:
    contact: Contact
    overwrite: bool
    #: The contact is the one an interrupted create of ours made: report it as created.
    adopted: bool = False


@dataclass(frozen=True)
class Overwrite:
    contact_id: str


@dataclass(frozen=True)
class Nothing:
    why: Literal["unchanged", "policy"]


Step = Union[Skip, Fail, LookUpNamed, LookUpByName, Create, LinkTo, Overwrite, Nothing]


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
    if s.create_pending:
        return _adopt_or_create(s)
    if _should_create(s):
        return _create(s)
    return Nothing("policy")


def _linked(s: Situation) -> Step:
    """Rule 4: overwrite a linked contact when something mapped changed (or on replay)."""
    assert s.link is not None and s.organisation is not None
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


def _adopt_or_create(s: Situation) -> Step:
    """An earlier attempt may have created the contact before it died: look first, whatever
    the policies say, and adopt the contact of that name rather than create a second one."""
    if s.by_name is None:
        return LookUpByName()
    if s.by_name.contact is not None and s.by_name.linked_elsewhere is None:
        return LinkTo(s.by_name.contact, overwrite=True, adopted=True)
    return _create(s)


def _create(s: Situation) -> Step:
    """Rule 3: create, or link to the active contact of the same name."""
    by_name_wanted = s.policies.link_existing_by_name
    # Where names are not unique (Sage) a create would happily duplicate: search first.
    if by_name_wanted and not s.names_unique and s.by_name is None:
        return LookUpByName()
    if s.by_name is not None and s.by_name.contact is not None:
        return _link_same_name(s, s.by_name)
    if s.clash is None:
        return Create()
    if by_name_wanted and s.by_name is None:
        return LookUpByName()
    return Fail(_clash_reason(s))


def _link_same_name(s: Situation, found: Lookup) -> Step:
    assert found.contact is not None
    if found.linked_elsewhere is not None:
        return Fail(_linked_elsewhere_reason(s, found.contact, found.linked_elsewhere))
    if not s.policies.link_existing_by_name:
        return Fail(_clash_reason(s))
    return LinkTo(found.contact, overwrite=s.policies.update_contact_on_edit)


def _linked_elsewhere_reason(s: Situation, contact: Contact, other: LinkedElsewhere) -> str:
    assert s.organisation is not None
    return (
        f"contact '{contact.name}' ({contact.id}) is already linked to organisation "
        f"{other.organisation_id} '{other.organisation_name}'; organisation "
        f"{s.organisation.id} '{s.organisation.name}' cannot be linked to it too"
    )


def _clash_reason(s: Situation) -> str:
    assert s.organisation is not None
    name = s.organisation.name
    clash = s.clash
    if clash is not None and clash.existing_type and clash.existing_type != "Customer":
        return (
            f"the name '{name}' is already used by a {clash.existing_type.lower()} "
            f"(id {clash.existing_id}); rename the organisation or the {clash.existing_type.lower()}"
        )
    if not s.policies.link_existing_by_name:
        return (
            f"a contact named '{name}' already exists; link it by hand, or turn on "
            "link_existing_by_name"
        )
    where = f" (id {clash.existing_id})" if clash is not None and clash.existing_id else ""
    return (
        f"the name '{name}' is taken by a contact{where} that is not an active customer "
        "(archived or inactive); restore or rename it, or rename the organisation"
    )
