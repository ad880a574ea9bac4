"""The two steps every decision can end with, shared by the sync's ``decide`` and the ledger's
``decide_change``: nothing to do (``Skip``) and a reason a person must act on (``Fail``)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Skip:
    reason: str


@dataclass(frozen=True)
class Fail:
    reason: str
