"""Ledger events and link status in the store, on SQLite and PostgreSQL (the migration too)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from core.db import Database
from core.ledger import ChangeSeen
from core.models import Contact
from core.store import events, links
from core.store import ledger as ledger_store
from core.store.links import LinkWrite

STAMP = datetime(2026, 12, 5, 10, 0, 0, 250000, tzinfo=timezone.utc)


def test_a_change_is_recorded_once_with_source_and_kind(db: Database, make_integration: Any) -> None:
    integration = make_integration()
    change = ChangeSeen("c-1", STAMP, "webhook", operation="update")
    event, duplicate = ledger_store.record(db, integration.id, change, organisation_id=7)
    again, repeated = ledger_store.record(db, integration.id, ChangeSeen("c-1", STAMP, "poll"), organisation_id=7)
    assert (duplicate, repeated) == (False, True) and again.id == event.id
    stored = events.get(db, event.id)
    assert stored is not None
    assert (stored.source, stored.kind, stored.status, stored.organisation_id) == ("ledger", "contact_changed", "queued", 7)


def test_an_unlinked_contact_is_recorded_skipped(db: Database, make_integration: Any) -> None:
    integration = make_integration()
    event, _ = ledger_store.record(db, integration.id, ChangeSeen("c-2", STAMP, "poll"), organisation_id=None)
    stored = events.get(db, event.id)
    assert stored is not None and stored.status == "skipped" and stored.outcome["reason"] == ledger_store.NOT_LINKED


def test_the_rental_systems_events_keep_their_source(db: Database, make_integration: Any) -> None:
    integration = make_integration()
    event, _ = events.record(db, events.NewEvent(integration.id, "98311", 7, "Member", "update", {}))
    assert ledger_store.is_ledger_event(db, event.id) is False
    assert events.get(db, event.id).source == "current_rms"  # type: ignore[union-attr]


def test_covered_by_an_owed_event_or_one_that_read_the_change(db: Database, make_integration: Any) -> None:
    integration = make_integration()
    assert not ledger_store.covered(db, integration.id, "c-3", STAMP)
    event, _ = ledger_store.record(db, integration.id, ChangeSeen("c-3", STAMP, "webhook"), organisation_id=7)
    # Owed: it will read the contact when it runs
    assert ledger_store.covered(db, integration.id, "c-3", STAMP + timedelta(hours=1))
    claimed = ledger_store.claim(db, event.id, lease_seconds=60)
    assert claimed is not None
    # Running: it may have read before the change
    assert not ledger_store.covered(db, integration.id, "c-3", STAMP)
    seen = (STAMP + timedelta(seconds=5)).isoformat()
    events.finish(db, event.id, status="succeeded", outcome={"action": "none", "contact_updated_at": seen})
    assert ledger_store.covered(db, integration.id, "c-3", STAMP + timedelta(seconds=5))
    assert not ledger_store.covered(db, integration.id, "c-3", STAMP + timedelta(seconds=6))
    # Another contact whose id starts the same is not confused with it
    assert not ledger_store.covered(db, integration.id, "c-", STAMP)


def test_link_status(db: Database, make_integration: Any) -> None:
    integration = make_integration()
    link = links.save(db, LinkWrite(integration.id, 7, "Acme", Contact(id="c-4", name="Acme"), None))
    assert ledger_store.link_status(db, integration.id, 7) == ("ok", None)
    ledger_store.set_link_status(db, link.id, "broken", "archived")
    assert ledger_store.link_status(db, integration.id, 7) == ("broken", "archived")
    assert [row.contact_id for row in ledger_store.links_with_status(db, integration.id, "broken")] == ["c-4"]
    assert ledger_store.link_status(db, integration.id, 8) is None
