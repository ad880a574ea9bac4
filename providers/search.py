"""Candidate look-ups for matching, by ``provider.kind`` (each system's own ``search.py``)."""
from __future__ import annotations

from importlib import import_module
from typing import Any, Iterator, Sequence

from core.matching import Candidate, Subject
from providers.base import AccountingProvider


def _module(provider: AccountingProvider) -> Any:
    return import_module(f"providers.{provider.kind}.search")


def lookup(provider: AccountingProvider, subject: Subject, match_on: Sequence[str]
           ) -> list[Candidate]:
    """Live: the candidates of one organisation, by the system's own queries (never a listing)."""
    return list(_module(provider).lookup(provider, subject, match_on))


def ledger(provider: AccountingProvider) -> Iterator[Candidate]:
    """Review: every active customer, paged at bulk priority."""
    return iter(_module(provider).ledger(provider))
