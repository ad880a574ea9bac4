"""The ledger's periodic work, for ``workers.scheduler``: one line there,
``*ledger_schedule.periodic()``, adds the ledger poll and the weekly link verification."""
from __future__ import annotations

from typing import Any

from core.ledger_settings import LedgerSettings

#: How often the scheduler looks for integrations whose links are due for verification.
VERIFY_CHECK_SECONDS = 3600.0


def periodic(settings: LedgerSettings | None = None) -> list[Any]:
    from workers.ledger_poll import poll_all
    from workers.ledger_verify import verify_due
    from workers.scheduler import Periodic

    settings = settings or LedgerSettings.from_env()
    return [
        Periodic("ledger_poll", float(settings.poll_interval_seconds), poll_all),
        Periodic("verify_links", VERIFY_CHECK_SECONDS if settings.verify_interval_days > 0 else 0.0, verify_due),
    ]
