"""A state machine over the ledger's intake and runs: people edit a contact, the webhook and the
poll report changes late, twice, out of order, and a worker runs events as it can.

Invariants: every hand edit that was reported is applied once the events are drained (no change
lost), and the service writes at most once per hand edit (a change reported by both channels,
or twice, costs no second write)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import select

from core.db import Database
from core.ledger import ChangeSeen
from core.store import events
from core.store import ledger as ledger_store
from core.tables import Event

START = datetime(2026, 12, 5, 10, 0, tzinfo=timezone.utc)


def test_no_reported_change_is_lost_and_none_is_written_twice(db: Database, make_integration: Any) -> None:
    class Ledger(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.integration = make_integration().id
            self.stamp = START  #: the contact's own stamp (the system's clock)
            self.history: list[tuple[datetime, bool]] = [(START, False)]  #: (stamp, a hand edit?)
            self.unapplied: datetime | None = None  #: the earliest hand edit not yet written over
            self.reported: set[datetime] = set()
            self.edits = self.writes = 0

        def _change(self, stamp: datetime, via: str) -> None:
            self.reported.add(stamp)
            ledger_store.record_if_new(db, self.integration, ChangeSeen("c-1", stamp, via), organisation_id=7)

        @rule(ms=st.integers(1, 1500))
        def person_edits(self, ms: int) -> None:
            self.stamp += timedelta(milliseconds=ms)
            self.history.append((self.stamp, True))
            self.unapplied = self.unapplied or self.stamp
            self.edits += 1

        @rule(back=st.integers(0, 3), via=st.sampled_from(["webhook", "poll"]))
        def a_change_is_reported(self, back: int, via: str) -> None:
            # The latest change, or an older one delivered late (a retry), by either channel
            stamp, _ = self.history[max(0, len(self.history) - 1 - back)]
            self._change(stamp, via)

        @precondition(lambda self: self._owed())
        @rule()
        def a_worker_runs_the_oldest_event(self) -> None:
            event = ledger_store.claim(db, self._owed()[0], lease_seconds=60)
            assert event is not None
            read = self.stamp  # it reads the contact as it is now
            if self.unapplied is not None:  # a hand edit differs: one write back
                self.writes += 1
                self.unapplied = None
                self.stamp += timedelta(milliseconds=1)
                self.history.append((self.stamp, False))  # our write: Xero reports it too
            events.finish(db, event.id, status="succeeded",
                          outcome={"action": "none", "contact_updated_at": read.isoformat()})

        def _owed(self) -> list[str]:
            with db.reading() as session:
                return list(session.scalars(select(Event.id).where(
                    Event.integration_id == self.integration, Event.status == "queued",
                ).order_by(Event.received_at)))

        @invariant()
        def at_most_one_write_per_hand_edit(self) -> None:
            assert self.writes <= self.edits

        def teardown(self) -> None:
            # Drain: run every owed event; then a reported hand edit is applied
            while self._owed():
                self.a_worker_runs_the_oldest_event()
            if self.unapplied is not None:
                assert not any(stamp >= self.unapplied for stamp in self.reported), "a reported change was lost"

    run_state_machine_as_test(Ledger, settings=settings(max_examples=25, stateful_step_count=20, deadline=None))
