"""The ledger's own settings (interface §10), to be folded into ``core.settings`` later.

| variable | default | meaning |
|---|---|---|
| ``QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN`` | none | signs Intuit's webhooks; without it every delivery is refused (401) |
| ``LEDGER_POLL_INTERVAL_SECONDS`` | ``900`` | period of the ledger poll; ``0`` turns it off |
| ``LINK_VERIFY_INTERVAL_DAYS`` | ``7`` | every link is verified at least this often; ``0`` turns it off |
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from core.settings import parse_number

DEFAULT_POLL_INTERVAL = 900
DEFAULT_VERIFY_DAYS = 7.0


@dataclass(frozen=True)
class LedgerSettings:
    quickbooks_verifier_token: str | None = None
    poll_interval_seconds: int = DEFAULT_POLL_INTERVAL
    verify_interval_days: float = DEFAULT_VERIFY_DAYS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LedgerSettings:
        env = os.environ if env is None else env
        return cls(
            quickbooks_verifier_token=env.get("QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN") or None,
            poll_interval_seconds=parse_number(env, "LEDGER_POLL_INTERVAL_SECONDS", int, str(DEFAULT_POLL_INTERVAL)),
            verify_interval_days=parse_number(env, "LINK_VERIFY_INTERVAL_DAYS", float, str(DEFAULT_VERIFY_DAYS)),
        )
