"""The refusal "this contact is already linked to another organisation", for the places that
link without a sync's ``Situation`` (the links CSV, linking by hand on the ops page and through
the admin API): the words are ``core.decision.already_linked``'s, so every path says it alike.
"""
from __future__ import annotations

from core.decision import LinkedElsewhere, already_linked
from core.models import Contact, ContactFields, Organisation
from core.tables import Link


def already_linked_elsewhere(contact: Contact, other: Link, organisation_id: int,
                             organisation_name: str) -> str:
    """``already_linked`` for organisation ``organisation_id``, which only knows its id and
    name here (``already_linked`` reads no more of the organisation than these two)."""
    organisation = Organisation(id=organisation_id, name=organisation_name, membership_type="",
                                active=True, fields=ContactFields(name=organisation_name))
    return already_linked(contact, LinkedElsewhere(other.organisation_id, other.organisation_name),
                          organisation)
