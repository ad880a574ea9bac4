"""Candidate contacts for matching, from Sage Accounting v3.1 (interface §11; providers.md §C1).

- ``name``: ``search`` (it looks at name, company name and reference), narrowed to equal names.
- ``email``: ``email`` (the contact person's address).
- ``account_number``: ``search`` again (the reference is the account-number analogue),
  narrowed to equal references once spaces and punctuation are ignored.
- ``tax_number``: no filter exists; a live match cannot use it (the review job, which reads
  the ledger, can).

Listing uses ``contact_type_id=CUSTOMER`` and ``attributes=all``, 200 per page.
"""
from __future__ import annotations

from typing import Any, Iterator, Sequence

from core.matching import Candidate, Subject
from providers.sage import mapping
from providers.sage.client import SageProvider

#: Keys the ledger's rows carry, so the review can compare them.
REVIEW_KEYS = ("name", "email", "account_number", "tax_number")
#: ``match_on`` key -> the ``GET /contacts`` parameter that filters on it.
FILTERS = {"name": "search", "email": "email", "account_number": "search"}


def to_candidate(provider: SageProvider, item: dict[str, Any]) -> Candidate:
    contact = provider.to_contact(item)
    fields = mapping.to_fields(item)
    return Candidate(id=contact.id, name=contact.name, email=fields.email,
                     account_number=fields.account_number, tax_number=fields.tax_number,
                     url=contact.url, active=contact.active)


def lookup(provider: SageProvider, subject: Subject, match_on: Sequence[str]) -> list[Candidate]:
    for key in match_on:
        if key not in FILTERS or not subject.value(key):
            continue
        params = {FILTERS[key]: getattr(subject, key).strip()}
        listed = provider.pages({**params, "contact_type_id": mapping.CUSTOMER})
        hits = [c for c in (to_candidate(provider, i) for i in listed)
                if c.active and c.value(key) == subject.value(key)]
        if hits:
            return hits
    return []


def ledger(provider: SageProvider) -> Iterator[Candidate]:
    for item in provider.pages({"nested_attributes": "all", "contact_type_id": mapping.CUSTOMER}, batch=True):
        candidate = to_candidate(provider, item)
        if candidate.active:
            yield candidate
