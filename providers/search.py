"""Candidate look-ups for matching, by ``provider.kind`` (each system's own ``search.py``)."""
from __future__ import annotations

from importlib import import_module
from typing import Any, Callable, Iterator, Sequence

from core.matching import Candidate, MatchResult, Subject, find_match
from core.models import Organisation
from providers.base import AccountingProvider


def _module(provider: AccountingProvider) -> Any:
    return import_module(f"providers.{provider.kind}.search")


def lookup(provider: AccountingProvider, subject: Subject, match_on: Sequence[str]
           ) -> list[Candidate]:
    """Live: the candidates of one organisation, by the system's own queries (never a listing)."""
    return list(_module(provider).lookup(provider, subject, match_on))


def by_account_number(provider: AccountingProvider, organisation_id: int, number: str
                      ) -> list[Candidate]:
    """Active contacts carrying ``number`` as their account number, by the system's own query
    (Xero ``where AccountNumber==``, Sage ``search`` narrowed to equal references); none where
    a contact has no account number (QuickBooks). Used to find the contact a create whose
    answer was lost made, under the number it sent."""
    if not number.strip():
        return []
    subject = Subject(organisation_id=organisation_id, name="", account_number=number)
    return lookup(provider, subject, ["account_number"])


def review_keys(provider: AccountingProvider, match_on: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(kept, ignored)``: the keys of ``match_on`` the system's contacts carry. A key no
    contact can have (QuickBooks' account and tax numbers) would make every match partial."""
    carried = set(_module(provider).REVIEW_KEYS)
    return [k for k in match_on if k in carried], [k for k in match_on if k not in carried]


def ledger(provider: AccountingProvider) -> Iterator[Candidate]:
    """Review: every active customer, paged at bulk priority."""
    return iter(_module(provider).ledger(provider))


def find(provider: AccountingProvider, organisation: Organisation, match_on: Sequence[str],
         linked_to: Callable[[str], int | None]) -> MatchResult:
    """The live rule for one unlinked organisation (interface §11), for the sync's decision:
    the system's own queries, key by key, then ``core.matching.find_match``. ``linked_to``
    answers which organisation a contact is linked to (``core.store.links.by_contact``)."""
    subject = Subject.of(organisation)
    candidates = lookup(provider, subject, match_on)
    linked = {c.id: org for c in candidates if (org := linked_to(c.id)) is not None}
    return find_match(subject, candidates, match_on, linked)
