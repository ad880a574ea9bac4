"""The ledger poll: the backstop that catches what the accounting system's webhooks missed,
and the only source for Sage (interface §10).

Each system's changed-since query (``providers/<kind>/changes.py``) at bulk priority under the
rate limiter; every change becomes an event through ``record_change``, so a change a webhook
already reported is not recorded twice. The watermark is the newest change stamp the system
showed (its own clock, not ours), stored in the integration's settings; a poll that fails
leaves it where it was, so the next poll asks again from the same point.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Iterator

import structlog

from core.integration_settings import IntegrationSettings
from core.ledger import ChangeSeen, LedgerContact
from core.models import IntegrationStatus
from core.runtime import Runtime
from core.store import integrations
from core.store import ledger as ledger_store
from core.tables import Integration, utcnow
from providers import factory
from providers.changes import changes_for
from workers import messages
from workers.ledger_intake import record_change
from workers.ledger_verify import check_links

log = structlog.get_logger(__name__)

#: ``settings`` key of the poll's state: ``{"since": <ISO>, "last_run": <ISO>}``.
STATE_KEY = "ledger_poll"
#: With nothing new, the watermark still moves up to this far behind our clock, so that a quiet
#: QuickBooks company never falls out of Change Data Capture's 30 days (a change is never lost
#: by it: the query is inclusive, and changes seen twice are one event).
QUIET_LAG = timedelta(minutes=5)


def watermark(integration: Integration) -> datetime:
    raw = IntegrationSettings.of(integration).state_of(STATE_KEY).get("since")
    if raw:
        return datetime.fromisoformat(raw)
    return integration.created_at


def poll_integration(rt: Runtime, integration: Integration) -> dict[str, Any]:
    """One poll of one integration; returns what it saw and recorded."""
    module = changes_for(integration.provider_kind)
    provider = factory.accounting_provider(rt, integration, priority="bulk")
    since, started = watermark(integration), utcnow()
    full = hasattr(module, "within_window") and not module.within_window(since, started)
    seen = full_check(rt, integration, module, provider, since) if full else module.changed_since(provider, since)
    newest, counts = since, {"seen": 0, "recorded": 0, "full_check": full}
    for change, _contact in seen:
        counts["seen"] += 1
        counts["recorded"] += record_change(rt, integration.id, change) is not None
        newest = max(newest, change.changed_at)
    state = {"since": max(newest, started - QUIET_LAG).isoformat(), "last_run": started.isoformat()}
    integrations.merge_settings(rt.db, integration.id, {STATE_KEY: state})
    log.info("ledger poll", integration_id=integration.id, **counts)
    return counts


def full_check(
    rt: Runtime, integration: Integration, module: Any, provider: Any, since: datetime,
) -> Iterator[tuple[ChangeSeen, LedgerContact | None]]:
    """Where the changed-since query cannot look back far enough (QuickBooks: 30 days), read
    every linked contact (batched) and report those gone, inactive or merged. A hand edit older
    than the window is not found this way (that needs every organisation read too): the next
    write of the organisation overwrites it anyway when ``update_contact_on_edit`` holds."""
    for change in check_links(module, provider, ledger_store.all_links(rt.db, integration.id), via="poll"):
        yield change, None


def poll_all(rt: Runtime) -> int:
    """For the scheduler: send every active integration's poll (bulk queue)."""
    active = [i for i in integrations.all_active(rt.db) if i.status == IntegrationStatus.ACTIVE]
    for integration in active:
        messages.send(messages.LEDGER_POLL, integration.id)
    return len(active)
