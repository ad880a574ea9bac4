"""Contacts by name, listed once: same-name links where the system allows duplicate names.

Sage keeps no unique names (providers.md §C3), so a create never clashes and a same-name link
needs a look-up first; one listing (``list_contacts``, 200 a page) replaces a search per
organisation. Names compare as ``core.models.same_name`` does: trimmed, case-insensitive; a
name several contacts carry is never resolved to one of them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from core.errors import Rejected
from core.matching import Candidate, several_named
from core.models import Contact
from providers.base import AccountingProvider


def _key(name: str) -> str:
    return name.strip().casefold()


@dataclass
class NameIndex:
    #: Every active contact of each name: several mean the export must not guess.
    by_name: dict[str, list[Contact]] = field(default_factory=dict)

    @classmethod
    def build(cls, provider: AccountingProvider) -> NameIndex:
        index = cls()
        for contact, _fields in provider.list_contacts():
            if contact.active:
                index.by_name.setdefault(_key(contact.name), []).append(contact)
        return index

    def get(self, name: str) -> Contact | None:
        """The one contact of that name, or ``None``; several fail the organisation naming
        each with its web link (interface §11: never a guess)."""
        found = self.by_name.get(_key(name)) or []
        if len(found) > 1:
            reason = several_named(name, [Candidate(id=c.id, name=c.name, url=c.url) for c in found])
            raise Rejected(reason, reason=reason)
        return found[0] if found else None

    def taken(self, contact_id: str, name: str) -> None:
        """A contact just linked: keep it findable (its link decides whether it is free). A
        name already indexed keeps what it has (a suffixed create is filed under the
        organisation's name, not its own)."""
        same = self.by_name.setdefault(_key(name), [])
        if not same:
            same.append(Contact(id=contact_id, name=name))
