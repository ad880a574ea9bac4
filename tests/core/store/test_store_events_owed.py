"""Owed work is never dropped by the store (issue 13): retention keeps owed events, a skipped
non-Member event never becomes runnable, and ``mark_sent`` (before the enqueue) lets one sender
through."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from core.db import Database
from core.store import events
from core.tables import utcnow
from tests.core.store.test_store_events import recorded, set_received


@pytest.fixture
def integration_id(make_integration: Any) -> str:
    return make_integration().id


def test_prune_keeps_owed_and_processing_events_whatever_their_age(db: Database, integration_id: str) -> None:
    # Given old events in every status a worker still owes work for, and an old finished one
    old = utcnow() - timedelta(days=91)
    queued = recorded(db, integration_id)
    retrying = recorded(db, integration_id)
    assert events.claim(db, retrying.id, lease_seconds=60) is not None
    events.retry_later(db, retrying.id, delay=5, error="503", failed_attempt=True)
    processing = recorded(db, integration_id)
    assert events.claim(db, processing.id, lease_seconds=60) is not None
    done = recorded(db, integration_id)
    assert events.claim(db, done.id, lease_seconds=60) is not None
    events.finish(db, done.id, status="succeeded", outcome=None)
    for event in (queued, retrying, processing, done):
        set_received(db, event.id, old)

    # When events older than 90 days are pruned
    removed = events.prune(db, older_than=utcnow() - timedelta(days=90))

    # Then only the finished one is gone; the processing one can still be finished
    assert removed == 1
    assert events.get(db, done.id) is None
    assert {events.get(db, e.id).status for e in (queued, retrying, processing)} == {"queued", "retrying", "processing"}
    events.finish(db, processing.id, status="succeeded", outcome=None)
    assert events.get(db, processing.id).status == "succeeded"


def test_a_skipped_non_member_event_is_never_replayed_nor_claimed(db: Database, integration_id: str) -> None:
    # Given an Opportunity event, recorded skipped, whose subject id equals a member's id
    skipped = recorded(db, integration_id, subject_type="Opportunity", status="skipped", organisation_id=7)
    assert events.get(db, skipped.id).status == "skipped"

    # When it is replayed, and when a stray message tries to claim it
    replayed = events.requeue_for_replay(db, skipped.id)
    claimed = events.claim(db, skipped.id, lease_seconds=60)

    # Then it stays skipped: nothing will sync organisation 7 for it
    assert replayed is None and claimed is None
    assert events.get(db, skipped.id).status == "skipped"


def test_mark_sent_takes_only_an_owed_unsent_event_so_two_senders_send_once(db: Database, integration_id: str) -> None:
    # Given an owed event not yet handed to the broker
    event = recorded(db, integration_id)

    # When two senders mark it sent before enqueueing (the outbox marks first, then sends)
    first, second = events.mark_sent(db, event.id, "m1"), events.mark_sent(db, event.id, "m2")

    # Then only the first may enqueue, and its message id is the one recorded
    assert (first, second) == (True, False)
    assert events.get(db, event.id).message_id == "m1"
