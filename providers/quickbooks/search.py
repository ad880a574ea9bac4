"""Candidate customers for matching, from QuickBooks Online (interface §11; providers.md §B).

What the query language can and cannot find:

- ``name``: ``DisplayName = '…'`` (case-insensitive, like the uniqueness rule); several names
  at once with ``DisplayName IN (…)``, 30 per query.
- ``email``: ``PrimaryEmailAddr = '…'``.
- ``account_number``: **cannot be matched**: a Customer has no account-number field (§B2).
- ``tax_number``: **cannot be matched**: ``PrimaryTaxIdentifier`` is answered masked (§B2), so
  neither a query nor a read can compare it. Both keys are skipped, never guessed; the review
  shows which keys a candidate agreed on.

The review job reads the ledger once (1000 per query page) and matches in memory.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator, Sequence

from core.errors import Rejected
from core.matching import Candidate, Subject
from providers.quickbooks import mapping
from providers.quickbooks.client import PAGE_SIZE, QuickBooksProvider

#: Keys the QuickBooks query can compare, and the field each uses.
QUERY_FIELDS = {"name": "DisplayName", "email": "PrimaryEmailAddr"}
#: Keys QuickBooks cannot match on, and why (shown in the README and the review).
UNMATCHABLE = {
    "account_number": "QuickBooks customers have no account-number field",
    "tax_number": "QuickBooks answers tax identifiers masked",
}
NAMES_PER_QUERY = 30
#: Keys the ledger's rows carry, so the review can compare them.
REVIEW_KEYS = ("name", "email")


def to_candidate(provider: QuickBooksProvider, row: dict[str, Any]) -> Candidate:
    contact = provider.to_contact(row)
    return Candidate(id=contact.id, name=contact.name, email=contact.email,
                     url=contact.url, active=contact.active)


def lookup(provider: QuickBooksProvider, subject: Subject, match_on: Sequence[str]
           ) -> list[Candidate]:
    for key in match_on:
        if key not in QUERY_FIELDS or not subject.value(key):
            continue
        text = (f"select * from Customer where {QUERY_FIELDS[key]} = "
                f"{mapping.quote(getattr(subject, key).strip())}")
        try:
            rows = provider.query(text)
        except Rejected:  # a field this company's query refuses: no candidates by that key
            continue
        hits = [c for c in (to_candidate(provider, r) for r in rows)
                if c.value(key) == subject.value(key)]
        if hits:
            return hits
    return []


def by_names(provider: QuickBooksProvider, names: Iterable[str]) -> Iterator[Candidate]:
    """Active customers carrying any of ``names``, 30 names per query."""
    wanted = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    for start in range(0, len(wanted), NAMES_PER_QUERY):
        chunk = wanted[start:start + NAMES_PER_QUERY]
        listed = ", ".join(mapping.quote(n) for n in chunk)
        text = f"select * from Customer where DisplayName IN ({listed}) MAXRESULTS 1000"
        for row in provider.query(text):
            yield to_candidate(provider, row)


def ledger(provider: QuickBooksProvider) -> Iterator[Candidate]:
    start = 1
    while True:
        response = provider.api.request(
            "GET", "query", batch=True, params={
                "minorversion": "75",
                "query": f"select * from Customer ORDERBY Id STARTPOSITION {start} "
                         f"MAXRESULTS {PAGE_SIZE}"})
        rows = (response.json().get("QueryResponse") or {}).get("Customer") or []
        for row in rows:
            yield to_candidate(provider, row)
        if len(rows) < PAGE_SIZE:
            return
        start += len(rows)
