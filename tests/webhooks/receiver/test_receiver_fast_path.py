"""The webhook's fast path (issue 18): the same answers and rows as before, for less work.

- ``EventIntake`` stores exactly the row ``events.record`` stores (SQLite and PostgreSQL),
  finds repeats by the unique index, and turns a refused INSERT into ``NotRecorded``;
- ``RecentlyAccepted`` accepts only a fresh, current token of an active integration, and a
  change committed by this process is answered by at once;
- the SQLite ``synchronous`` level is NORMAL unless ``SQLITE_SYNCHRONOUS`` says otherwise.
"""
from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any, Iterator

import pytest
import sqlalchemy
from cryptography.fernet import Fernet

from core import webhook_tokens
from core.crypto import Vault
from core.db import Database, sqlite_synchronous
from core.store import events, integrations
from core.store.event_intake import EventIntake, NotRecorded
from core.store.events import NewEvent
from core.store.integrations import NewIntegration
from tests.conftest import migrate

PAYLOAD = {"action": {"id": 7, "subject_id": 9, "subject_type": "Member", "extra": ["é", {"n": None}]}}
COMPARED = ("integration_id", "organisation_id", "subject_type", "kind", "status", "attempts", "force_write",
            "payload", "outcome", "message_id", "last_error", "next_attempt_at", "lease_until")


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    migrate(db_url)
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def integration_id(db: Database) -> str:
    vault = Vault((Fernet.generate_key().decode(),))
    integration, _ = integrations.create(db, vault, NewIntegration("Acme", "xero", "acme"))
    return integration.id


def new_event(integration_id: str, source_event_id: str, **changes: Any) -> NewEvent:
    values = {"integration_id": integration_id, "source_event_id": source_event_id, "organisation_id": 9,
              "subject_type": "Member", "kind": "create", "payload": PAYLOAD}
    return NewEvent(**{**values, **changes})


@pytest.mark.parametrize("subject_type,status", [("Member", "queued"), ("Opportunity", "skipped")])
def test_intake_stores_the_row_events_record_stores(db: Database, integration_id: str, subject_type: str,
                                                     status: str) -> None:
    # Given one delivery recorded by the ORM path and one by the intake
    by_orm, _ = events.record(db, new_event(integration_id, "1", subject_type=subject_type, status=status),
                              message_id="m-1" if status == "queued" else None)
    by_intake, duplicate = EventIntake(db).record(
        new_event(integration_id, "2", subject_type=subject_type, status=status),
        message_id="m-1" if status == "queued" else None)
    # Then both rows read back the same, timestamps included as aware datetimes
    assert duplicate is False and by_intake.status == status
    orm_row, intake_row = events.get(db, by_orm.id), events.get(db, by_intake.id)
    assert orm_row is not None and intake_row is not None
    assert {k: getattr(intake_row, k) for k in COMPARED} == {k: getattr(orm_row, k) for k in COMPARED}
    for name in ("received_at", "finished_at", "sent_at"):
        mine, theirs = getattr(intake_row, name), getattr(orm_row, name)
        assert (mine is None) == (theirs is None), name
        if mine is not None:
            assert mine.tzinfo is not None and abs((mine - theirs).total_seconds()) < 60


def test_intake_answers_a_repeat_with_the_first_event(db: Database, integration_id: str) -> None:
    intake = EventIntake(db)
    first, first_duplicate = intake.record(new_event(integration_id, "98311"), message_id="m-1")
    again, duplicate = intake.record(new_event(integration_id, "98311", kind="update"), message_id="m-2")
    assert (first_duplicate, duplicate) == (False, True)
    assert again == first
    stored = events.get(db, first.id)
    assert stored is not None and stored.kind == "create" and stored.message_id == "m-1"


def test_five_racing_intakes_of_one_delivery_make_one_event(db: Database, integration_id: str) -> None:
    intake, barrier, answers = EventIntake(db), threading.Barrier(5), []

    def record() -> None:
        barrier.wait()
        answers.append(intake.record(new_event(integration_id, "race")))

    threads = [threading.Thread(target=record) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(answers) == 5 and len({recorded.id for recorded, _ in answers}) == 1
    assert sorted(duplicate for _, duplicate in answers) == [False, True, True, True, True]


def test_intake_refused_by_the_database_is_not_recorded(db: Database, integration_id: str) -> None:
    intake = EventIntake(db)
    # An unknown integration (a foreign key) is not a repeat: nothing recorded
    with pytest.raises(NotRecorded):
        intake.record(new_event("f" * 32, "1"))
    # A table gone (a broken migration) is refused, and the intake works again once it is back
    with db.engine.begin() as connection:
        connection.execute(sqlalchemy.text("ALTER TABLE events RENAME TO events_away"))
    with pytest.raises(NotRecorded):
        intake.record(new_event(integration_id, "2"))
    with db.engine.begin() as connection:
        connection.execute(sqlalchemy.text("ALTER TABLE events_away RENAME TO events"))
    recorded, duplicate = intake.record(new_event(integration_id, "3"))
    assert duplicate is False and events.get(db, recorded.id) is not None


# --- RecentlyAccepted ------------------------------------------------------------------------


def row(token: str, **changes: Any) -> Any:
    values = {"status": "active", "deleted_at": None, "webhook_token_digest": webhook_tokens.digest(token)}
    return SimpleNamespace(**{**values, **changes})


def test_only_the_current_token_of_an_active_integration_is_remembered() -> None:
    memory = webhook_tokens.RecentlyAccepted(seconds=2)
    memory.remember("a", "tok-a", row("tok-a"), now=100)
    memory.remember("b", "tok-b", row("tok-b", status="disabled"), now=100)
    memory.remember("c", "tok-c", row("tok-c", deleted_at="yesterday"), now=100)
    memory.remember("d", "old-d", row("new-d"), now=100)  # accepted as the previous token
    memory.remember("e", "tok-e", row("tok-e", status="reconnect_needed"), now=100)
    assert memory.get("a", "tok-a", now=101) is not None
    assert [memory.get(i, f"tok-{i}", now=101) for i in "bce"] == [None, None, None]
    assert memory.get("d", "old-d", now=101) is None


def test_a_remembered_integration_is_only_a_hit_for_its_token_and_while_fresh() -> None:
    memory = webhook_tokens.RecentlyAccepted(seconds=2)
    memory.remember("a", "tok-a", row("tok-a"), now=100)
    assert memory.get("a", "wrong", now=100.5) is None
    assert memory.get("a", None, now=100.5) is None
    assert memory.get("a", "tok-a", now=102) is None  # expired: the row is read again
    assert memory.get("a", "tok-a", now=100.5) is None  # and forgotten


def test_memory_is_bounded() -> None:
    memory = webhook_tokens.RecentlyAccepted(seconds=60, max_entries=3)
    for name in "abcd":
        memory.remember(name, name, row(name), now=1)
    assert memory.get("a", "a", now=2) is None and memory.get("d", "d", now=2) is not None


def test_a_change_committed_here_is_answered_at_once(db: Database, integration_id: str) -> None:
    from webhooks import receiver

    receiver.recently_accepted.remember(integration_id, "tok", row("tok"))
    assert receiver.recently_accepted.get(integration_id, "tok") is not None
    integrations.update(db, integration_id, status="disabled")
    assert receiver.recently_accepted.get(integration_id, "tok") is None


# --- SQLite synchronous ----------------------------------------------------------------------


def test_sqlite_synchronous_defaults_to_normal_and_refuses_unknown_levels(tmp_path: Any,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    assert sqlite_synchronous({}) == "NORMAL"
    assert sqlite_synchronous({"SQLITE_SYNCHRONOUS": "full"}) == "FULL"
    with pytest.raises(SystemExit, match="SQLITE_SYNCHRONOUS"):
        sqlite_synchronous({"SQLITE_SYNCHRONOUS": "sometimes"})
    # And the level is what each connection runs with (1 = NORMAL, 2 = FULL)
    for level, number in (("NORMAL", 1), ("FULL", 2)):
        monkeypatch.setenv("SQLITE_SYNCHRONOUS", level)
        database = Database(f"sqlite:///{tmp_path}/{level}.db")
        with database.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == number
        database.dispose()
