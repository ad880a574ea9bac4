"""Record a change seen in the accounting system (committed) and hand it to a worker.

Shared by the webhooks, the ledger poll and link verification, so that one change reported by
several of them is one event (``ChangeSeen.source_event_id``, ``ledger_store.covered``).
"""
from __future__ import annotations

import structlog

from core.ledger import ChangeSeen
from core.runtime import Runtime
from core.store import ledger as ledger_store
from core.store import links
from workers import outbox

log = structlog.get_logger(__name__)


def record_change(rt: Runtime, integration_id: str, change: ChangeSeen) -> str | None:
    """Record one change (committed) and hand it to the broker; the event id, or ``None``
    when an event already covers it. Shared by the webhooks, the ledger poll and verification."""
    link = links.by_contact(rt.db, integration_id, change.contact_id)
    organisation_id = link.organisation_id if link is not None else None
    message_id = outbox.new_message_id() if organisation_id is not None else None
    event = ledger_store.record_if_new(rt.db, integration_id, change, organisation_id=organisation_id,
                                       message_id=message_id)
    if event is None:
        return None
    if message_id is not None:
        # ``sync_event`` hands ledger events to the ledger's worker.
        outbox.send_prepared(rt, event.id, message_id)
    log.info("ledger change recorded", integration_id=integration_id, event_id=event.id,
             organisation_id=organisation_id, contact_id=change.contact_id,
             operation=change.operation, via=change.via, status=event.status)
    return event.id


