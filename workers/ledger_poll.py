"""The ledger poll: the backstop that catches what the accounting system's webhooks missed,
and the only source for Sage (interface §10).

Each system's changed-since query (``providers/<kind>/changes.py``) at bulk priority under the
rate limiter; every change becomes an event through ``record_change``, so a change a webhook
already reported is not recorded twice. The watermark is the newest change stamp the system
showed (its own clock, not ours), stored in the integration's settings; a poll that fails
leaves it where it was, so the next poll asks again from the same point.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import structlog

from core.integration_settings import IntegrationSettings
from core.ledger import ChangeSeen, LedgerContact, differing_fields, is_polled_echo
from core.models import ContactFields, IntegrationStatus
from core.runtime import Runtime
from core.store import integrations, links
from core.store import ledger as ledger_store
from core.tables import Integration, Link, utcnow
from providers import factory
from providers.changes import changes_for
from workers import messages
from workers.ledger_intake import record_change
from workers.ledger_verify import link_changes, read_linked

log = structlog.get_logger(__name__)

#: ``settings`` key of the poll's state: ``{"since": <ISO>, "last_run": <ISO>}``.
STATE_KEY = "ledger_poll"
#: With nothing new, the watermark still moves up to this far behind our clock, so that a quiet
#: QuickBooks company never falls out of Change Data Capture's 30 days (a change is never lost
#: by it: the query is inclusive, and changes seen twice are one event).
QUIET_LAG = timedelta(minutes=5)
#: Links read per step of the full check (QuickBooks: 10 ``Id IN`` queries of 100).
FULL_CHECK_CHUNK = 1000
#: Organisations per read from the rental system (``q[id_in][]`` in one URL).
ORGANISATIONS_PER_READ = 100


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
    newest, counts = since, {"seen": 0, "recorded": 0, "echoes": 0, "full_check": full}
    for change, contact in seen:
        counts["seen"] += 1
        newest = max(newest, change.changed_at)
        if _echo(rt, integration, module, change, contact):
            counts["echoes"] += 1
            continue
        if contact is not None and contact.fields is not None:
            change = replace(change, listed_digest=contact.fields.digest())
        counts["recorded"] += record_change(rt, integration.id, change) is not None
    state = {"since": max(newest, started - QUIET_LAG).isoformat(), "last_run": started.isoformat()}
    integrations.merge_settings(rt.db, integration.id, {STATE_KEY: state})
    log.info("ledger poll", integration_id=integration.id, **counts)
    return counts


def _echo(rt: Runtime, integration: Integration, module: Any, change: ChangeSeen,
          contact: LedgerContact | None) -> bool:
    """The listed contact is our last write's echo (``is_polled_echo``): no event, no call."""
    if contact is None:
        return False
    link = links.by_contact(rt.db, integration.id, change.contact_id)
    if link is None or not is_polled_echo(
        contact, link_status=link.status, compared=module.COMPARED,
        written=ContactFields.from_dict(link.written_fields) if link.written_fields else None,
    ):
        return False
    log.info("ledger poll: our own write's echo", integration_id=integration.id,
             organisation_id=link.organisation_id, contact_id=change.contact_id)
    return True


def full_check(
    rt: Runtime, integration: Integration, module: Any, provider: Any, since: datetime,
) -> Iterator[tuple[ChangeSeen, LedgerContact | None]]:
    """Where the changed-since query cannot look back far enough (QuickBooks: 30 days), read
    every linked contact (batched, at the provider's bulk priority) and report what the query
    would have: those gone, inactive or merged, and those whose mapped fields differ from the
    organisation's (a hand edit the window no longer shows). Each is then run as the query's
    changes are: written back when ``update_contact_on_edit`` holds, else drift. A difference
    already reported for the same state of the contact (its stamp) is not reported again
    (``ledger_store.covered``)."""
    rows = ledger_store.all_links(rt.db, integration.id)
    for start in range(0, len(rows), FULL_CHECK_CHUNK):
        part = rows[start:start + FULL_CHECK_CHUNK]
        found = read_linked(module, provider, part)
        for change in link_changes(part, found, via="poll"):
            yield change, None
        for change, contact in hand_edits(rt, integration, module, part, found):
            yield change, contact


def hand_edits(
    rt: Runtime, integration: Integration, module: Any, rows: list[Link], found: dict[str, LedgerContact],
) -> Iterator[tuple[ChangeSeen, LedgerContact]]:
    """The active, unmerged linked contacts whose mapped fields differ from their
    organisation's, compared as the ledger worker compares them (``differing_fields``,
    the system's ``COMPARED``). The organisations are read from the rental system in batches."""
    candidates = [(link, contact) for link in rows if (link.status or "ok") == "ok"
                  and (contact := found.get(link.contact_id)) is not None
                  and contact.state == "active" and not contact.merged_to]
    source = factory.rental_system(rt, integration)
    now = datetime.now(timezone.utc)
    for start in range(0, len(candidates), ORGANISATIONS_PER_READ):
        part = candidates[start:start + ORGANISATIONS_PER_READ]
        organisations = source.get_organisations([link.organisation_id for link, _ in part])
        for link, contact in part:
            organisation = organisations.get(link.organisation_id)
            if organisation is None or not organisation.is_organisation:
                continue  # the sync of that organisation deals with it
            differing = differing_fields(organisation.fields, contact.fields, module.COMPARED)
            if differing:
                yield ChangeSeen(contact.id, contact.updated_at or now, "poll", operation="update",
                                 detail={"full_check": list(differing)}), contact


def poll_all(rt: Runtime) -> int:
    """For the scheduler: send every active integration's poll (bulk queue)."""
    active = [i for i in integrations.all_active(rt.db) if i.status == IntegrationStatus.ACTIVE]
    for integration in active:
        messages.send(messages.LEDGER_POLL, integration.id)
    return len(active)
