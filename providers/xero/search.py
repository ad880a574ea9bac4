"""Candidate contacts for matching, from Xero (interface §11; providers.md §A1).

- One organisation (live): one ``GET /Contacts?where=`` per key of ``match_on`` with a value,
  stopping at the first key that finds anything. ``where`` filters Name, EmailAddress and
  AccountNumber (Xero optimises these) and TaxNumber; it compares exact strings, so an account
  or tax number written with other spacing or punctuation in Xero is missed here (the review
  job, which reads the ledger, does find it).
- The review job: the ledger read once, 100 active contacts per page, matched in memory.

Functions take the provider and use its ``ApiClient``; they never write.
"""
from __future__ import annotations

from typing import Any, Iterator, Sequence

from core.matching import Candidate, Subject
from providers.xero import mapping
from providers.xero.client import ACTIVE, XeroProvider

#: Keys the ledger's rows carry, so the review can compare them.
REVIEW_KEYS = ("name", "email", "account_number", "tax_number")
#: ``match_on`` key -> the Contact field ``where`` compares.
WHERE_FIELDS = {"name": "Name", "email": "EmailAddress",
                "account_number": "AccountNumber", "tax_number": "TaxNumber"}


def to_candidate(provider: XeroProvider, element: dict[str, Any]) -> Candidate:
    contact = provider._contact(element)  # the client's own reading (url, status)
    return Candidate(
        id=contact.id, name=contact.name, email=element.get("EmailAddress") or "",
        account_number=element.get("AccountNumber") or "", tax_number=element.get("TaxNumber") or "",
        url=contact.url, active=contact.active,
    )


def where_for(key: str, value: str) -> str:
    return f'{ACTIVE}&&{WHERE_FIELDS[key]}=="{mapping.escape_where(value.strip())}"'


def lookup(provider: XeroProvider, subject: Subject, match_on: Sequence[str]) -> list[Candidate]:
    """Active contacts agreeing with ``subject`` on the first key of ``match_on`` that finds any."""
    for key in match_on:
        raw = getattr(subject, key).strip()
        if not subject.value(key):
            continue
        found = [to_candidate(provider, e) for e in provider.pages({"where": where_for(key, raw)})]
        hits = [c for c in found if c.value(key) == subject.value(key)]
        if hits:
            return hits
    return []


def ledger(provider: XeroProvider) -> Iterator[Candidate]:
    """Every active contact, page by page, at bulk priority."""
    for element in provider.pages({"where": ACTIVE, "order": "Name ASC"}, batch=True):
        yield to_candidate(provider, element)
