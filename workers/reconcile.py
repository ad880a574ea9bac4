"""The reconciliation poll (interface §5): catch what the webhooks never delivered.

Asks the rental system for organisations updated since the integration's watermark and
records one event for each, ``source_event_id`` ``poll:<organisation id>:<updated_at>``, so a
second poll of the same change is a duplicate and nothing is processed twice. A sync that
finds nothing changed makes no call, which makes the poll idempotent with the webhook path.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import structlog

from core.models import IntegrationStatus
from core.runtime import Runtime
from core.store import events, integrations
from core.store.events import NewEvent
from core.tables import Integration
from providers import factory
from workers import outbox

log = structlog.get_logger(__name__)

#: The poll asks from a little before the watermark: two changes within the same second must
#: not be missed; the ids make the overlap harmless.
OVERLAP = timedelta(seconds=2)
#: The watermark never passes the poll's start, less this margin for the two clocks' skew.
#: Pages come in id order: an organisation edited mid-poll on a page already read is not seen
#: by this poll, while later pages may show later edits; a watermark at the highest time seen
#: would then skip the first edit for good (issue 13, finding 7). Edits after the start are
#: asked for again by the next poll; their ids make the repeat harmless.
CLOCK_MARGIN = timedelta(seconds=30)


def parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def reconcile(rt: Runtime, integration: Integration) -> int:
    """Record an event for each organisation updated since the watermark; the count of new ones."""
    if integration.status != IntegrationStatus.ACTIVE or integration.deleted_at is not None:
        return 0
    previous = integration.poll_watermark or integration.created_at
    started = datetime.now(timezone.utc)
    newest, recorded = previous, 0
    source = factory.rental_system(rt, integration, priority="bulk")
    for organisation in source.iter_organisations(
        updated_since=(previous - OVERLAP).isoformat(), active_only=False,
    ):
        updated = parse_time(organisation.updated_at) or previous
        created = parse_time(organisation.created_at) or updated
        # The watermark trails the poll's start (CLOCK_MARGIN), so an organisation created
        # just before one poll can be seen by the next too: that one is an update.
        is_new = created > previous and not events.has_events_for(rt.db, integration.id, organisation.id)
        event, duplicate = events.record(rt.db, NewEvent(
            integration_id=integration.id,
            source_event_id=f"poll:{organisation.id}:{organisation.updated_at}",
            organisation_id=organisation.id, subject_type="Member",
            kind="create" if is_new else "update",
            payload={"poll": {"organisation_id": organisation.id, "updated_at": organisation.updated_at}},
        ))
        if not duplicate:
            outbox.send(rt, event.id)
            recorded += 1
        newest = max(newest, updated)
    watermark = max(previous, min(newest, started - CLOCK_MARGIN))
    integrations.update(rt.db, integration.id, poll_watermark=watermark)
    log.info("reconciliation poll", integration_id=integration.id, recorded=recorded,
             watermark=watermark.isoformat())
    return recorded
