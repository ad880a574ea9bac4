"""The words of two refusals every path must say alike.

- "this contact is already linked to another organisation", for the places that link without a
  sync's ``Situation`` (the links CSV, linking by hand on the ops page and through the admin
  API): the words are ``core.decision.already_linked``'s.
- "the accounting system refused: this name or number is already used by <that contact>"
  (issue 16): the refusal names the contact holding the clashing value, with its web link, so
  the operator opens it instead of searching for it; and it never reads as a success code.
"""
from __future__ import annotations

from core.decision import LinkedElsewhere, already_linked
from core.errors import AccountNumberClash, Holder
from core.models import Contact, ContactFields, Organisation
from core.tables import Link

#: What to do about a number used by another contact: where to change it.
ACCOUNT_NUMBER_ADVICE = ("change the organisation's account number in Current RMS (or the other "
                         "contact's), then replay")


def already_linked_elsewhere(contact: Contact, other: Link, organisation_id: int,
                             organisation_name: str) -> str:
    """``already_linked`` for organisation ``organisation_id``, which only knows its id and
    name here (``already_linked`` reads no more of the organisation than these two)."""
    organisation = Organisation(id=organisation_id, name=organisation_name, membership_type="",
                                active=True, fields=ContactFields(name=organisation_name))
    return already_linked(contact, LinkedElsewhere(other.organisation_id, other.organisation_name),
                          organisation)


def taken(system: str, what: str, value: str, holder: Holder | None) -> str:
    """``Xero refused: account number 'ACME1' is already used by contact 'Acme Ltd' (<link>)``.
    ``holder`` is ``None`` when the look-up found nobody (the system's own rule may count
    records its queries do not show): then the reason says so rather than guess."""
    by = holder.describe() if holder is not None else "another contact (which a search did not find)"
    return f"{system} refused: {what} '{value}' is already used by {by}"


def account_number_refusal(error: AccountNumberClash, number: str) -> str:
    """The reason a sync fails with for a taken account number: who holds it (where the
    provider looked it up: ``error.number`` set), then what to do."""
    said = (error.reason if error.number is not None else
            f"the account number {number} is already used by another contact in the accounting system")
    return f"{said}; {ACCOUNT_NUMBER_ADVICE}"
