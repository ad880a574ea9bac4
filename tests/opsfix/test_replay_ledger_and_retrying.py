"""Replay (interface §6, §10): a ledger event replays like every event; a retrying event's replay
keeps ``force_write`` (issue 12, finding 5); a skipped non-Member rental-system event stays
never replayed (``tests/core/store/test_store_events_owed.py``)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from core.db import Database
from core.ledger import ChangeSeen
from core.store import events
from core.store import ledger as ledger_store
from tests.core.store.test_store_events import recorded


@pytest.fixture
def integration_id(make_integration: Any) -> str:
    return make_integration().id


def test_a_finished_ledger_event_is_replayed_and_taken_by_the_ledger_claim(db: Database, integration_id: str) -> None:
    # Given a ledger event (subject: a contact) that ran and finished
    change = ChangeSeen(contact_id="c-1", changed_at=datetime.now(timezone.utc), via="webhook")
    event, _ = ledger_store.record(db, integration_id, change, organisation_id=7)
    assert ledger_store.claim(db, event.id, lease_seconds=60) is not None
    events.finish(db, event.id, status="succeeded", outcome={"action": "none", "drift": ["email"]})

    # When it is replayed
    replayed = events.requeue_for_replay(db, event.id)

    # Then it is owed again, as a replay, and the ledger worker's claim takes it
    assert replayed is not None and replayed.status == "queued" and replayed.force_write is True
    assert ledger_store.claim(db, event.id, lease_seconds=60) is not None
    # And the rental system's claim still never takes a non-member subject
    assert events.LEDGER_SOURCE == ledger_store.SOURCE


def test_a_replay_of_a_retrying_event_keeps_force_write(db: Database, integration_id: str) -> None:
    # Given an event waiting for its next attempt after a failed one
    event = recorded(db, integration_id)
    assert events.claim(db, event.id, lease_seconds=60) is not None
    events.retry_later(db, event.id, delay=600, error="503", failed_attempt=True)
    assert events.get(db, event.id).status == "retrying"

    # When an operator replays it
    replayed = events.requeue_for_replay(db, event.id)

    # Then it runs now as a replay: it writes even if nothing changed
    assert replayed is not None and replayed.status == "queued"
    assert replayed.force_write is True and replayed.next_attempt_at is None
    claimed = events.claim_due(db, event.id, lease_seconds=60)
    assert claimed is not None and claimed.force_write is True


def test_a_queued_or_processing_event_is_still_not_replayed(db: Database, integration_id: str) -> None:
    queued = recorded(db, integration_id)
    processing = recorded(db, integration_id)
    assert events.claim(db, processing.id, lease_seconds=60) is not None
    assert events.requeue_for_replay(db, queued.id) is None
    assert events.requeue_for_replay(db, processing.id) is None
    assert events.get(db, processing.id).status == "processing"
