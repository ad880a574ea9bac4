"""Replay: run finished events again, by hand, one or all matching a filter (interface §6).

A replay is a new attempt with the organisation's current state that writes the contact even
if nothing changed. An event already queued or processing is left alone, so a replay never
runs an event twice.
"""
from __future__ import annotations

from datetime import datetime, timezone

import structlog

from core.models import EventStatus
from core.runtime import Runtime
from core.store import event_resolution, events
from core.store.events import EventFilter
from workers import outbox

log = structlog.get_logger(__name__)


def replay_event(rt: Runtime, event_id: str) -> str:
    """Queue the event again; returns its status (its current one when it is owed already)."""
    event = events.requeue_for_replay(rt.db, event_id)
    if event is None:
        current = events.get(rt.db, event_id)
        return current.status if current else "missing"
    outbox.send(rt, event.id)
    log.info("event replayed", event_id=event_id)
    return EventStatus.QUEUED


def replay_matching(rt: Runtime, filters: EventFilter) -> int:
    """Replay every event matching ``filters`` (status ``failed`` by default); the count.
    ``retrying`` events are not replayed but run now (``retry_now``)."""
    if filters.status == EventStatus.RETRYING:
        return retry_now(rt, filters)
    replayed = 0
    for event_id in events.ids_matching(rt.db, filters):
        if events.requeue_for_replay(rt.db, event_id) is not None:
            outbox.send(rt, event_id)
            replayed += 1
    log.info("events replayed", count=replayed, status=filters.status,
             integration_id=filters.integration_id)
    return replayed


def retry_now(rt: Runtime, filters: EventFilter) -> int:
    """"Retry now": ``retrying`` events matching ``filters`` run at once instead of at their
    next attempt. A provider's announced ``Retry-After`` (a 429) still holds: the rate
    limiter's penalty makes the sync wait it out, and a wait is not an attempt."""
    ids = event_resolution.make_due_now(rt.db, filters)
    for event_id in ids:
        outbox.send(rt, event_id)
    log.info("retrying events run now", count=len(ids), integration_id=filters.integration_id)
    return len(ids)


#: ``source_event_id`` prefix of the sync that follows a link made by a person (API, ops page,
#: match review); the ops page words such events "linked by hand".
MANUAL_LINK_PREFIX = "manual-link:"


def sync_after_link(rt: Runtime, integration_id: str, organisation_id: int, *, via: str) -> str:
    """Sync an organisation just linked by hand at once: an event of its own, as if it had been
    edited (overwriting the contact when ``update_contact_on_edit``); its id."""
    stamp = datetime.now(timezone.utc).isoformat()
    event, _ = events.record(rt.db, events.NewEvent(
        integration_id=integration_id, source_event_id=f"{MANUAL_LINK_PREFIX}{organisation_id}:{stamp}",
        organisation_id=organisation_id, subject_type="Member", kind="update",
        payload={"manual_link": {"organisation_id": organisation_id, "via": via}},
    ))
    outbox.send(rt, event.id)
    return event.id
