"""Contacts by name, listed once: same-name links where the system allows duplicate names.

Sage keeps no unique names (providers.md §C3), so a create never clashes and a same-name link
needs a look-up first; one listing (``list_contacts``, 200 a page) replaces a search per
organisation. Names compare as ``core.models.same_name`` does: trimmed, case-insensitive.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from core.models import Contact
from providers.base import AccountingProvider


def _key(name: str) -> str:
    return name.strip().casefold()


@dataclass
class NameIndex:
    by_name: dict[str, Contact] = field(default_factory=dict)

    @classmethod
    def build(cls, provider: AccountingProvider) -> NameIndex:
        index = cls()
        for contact, _fields in provider.list_contacts():
            if contact.active:
                index.by_name.setdefault(_key(contact.name), contact)  # the first listed wins
        return index

    def get(self, name: str) -> Contact | None:
        return self.by_name.get(_key(name))

    def taken(self, contact_id: str, name: str) -> None:
        """A contact just linked: keep it findable (its link decides whether it is free)."""
        self.by_name.setdefault(_key(name), Contact(id=contact_id, name=name))
