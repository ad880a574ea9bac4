"""The webhook's INSERT of a new event: one statement, committed before the answer.

The same row, columns and types as ``core.store.events.record`` (which the rest of the code
uses), without SQLAlchemy's per-execution work: the statement is compiled once per database,
the values go through the columns' own bind processors (so a datetime or a JSON payload is
stored exactly as the ORM stores it), and the statement runs on a DBAPI connection that each
thread takes from the engine's pool once and keeps (a checkout and check-in per delivery cost
as much as the INSERT). On SQLite that connection is in autocommit mode (``core.db``), so the
INSERT is its own transaction: the write lock is held only inside SQLite's C code, never across Python work
that another thread's GIL turn could stretch. Elsewhere it is committed explicitly.

The duplicate check is the database's: the unique (integration, action.id) index. A repeated
delivery fails the INSERT and the first event is read back (issue 18 measured this path at a
third of the ORM's cost per delivery).
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select

from core.db import Database
from core.models import EventStatus
from core.store.events import EVENT_TABLE, NewEvent, _skipped_outcome
from core.tables import Event, new_id, utcnow

#: The columns the webhook sets; the others keep their NULL (or are set later by a worker).
COLUMNS = (
    "id", "integration_id", "source_event_id", "organisation_id", "subject_type", "kind", "status",
    "attempts", "force_write", "payload", "received_at", "finished_at", "outcome", "sent_at",
    "message_id", "source",
)
#: The rental system's webhook is the only caller: its events are ``current_rms`` ones.
SOURCE = "current_rms"


class NotRecorded(Exception):
    """The database refused or could not store the event (the webhook answers 503)."""


@dataclass(frozen=True)
class Recorded:
    """What the webhook answers with: the event's id and status (the first one's, for a repeat)."""

    id: str
    status: str


class EventIntake:
    """Records deliveries into one ``Database``; build one per database and keep it."""

    def __init__(self, db: Database) -> None:
        self.db = db
        dialect = db.engine.dialect
        compiled = insert(EVENT_TABLE).compile(dialect=dialect, column_keys=list(COLUMNS))
        self._sql = str(compiled)
        self._errors = dialect.loaded_dbapi
        columns = EVENT_TABLE.columns
        processors = {name: columns[name].type.dialect_impl(dialect).bind_processor(dialect) for name in COLUMNS}
        self._positional = dialect.positional
        order: Sequence[str] = COLUMNS
        if dialect.positional:
            # A positional dialect's compiled statement always has its parameters' order.
            assert compiled.positiontup is not None
            order = compiled.positiontup
        self._binds: list[tuple[str, Callable[[Any], Any] | None]] = [(name, processors[name]) for name in order]
        self._autocommit = dialect.name == "sqlite"
        self._local = threading.local()
        # SQLite has one writer at a time, and a writer that finds the lock taken sleeps in
        # steps of 1, 2, 5, 10 ms... (its busy handler): the threads of one process queue on a
        # Python lock instead, so only the processes contend for SQLite's.
        self._one_writer: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if self._autocommit else contextlib.nullcontext()
        )

    def record(self, new: NewEvent, *, message_id: str | None = None) -> tuple[Recorded, bool]:
        """Insert and commit the event; ``(first event, True)`` when this ``action.id`` was seen.

        With ``message_id`` the event is recorded as sent under that broker message id in the
        same commit, as ``events.record`` does."""
        now = utcnow()
        skipped = new.status == EventStatus.SKIPPED
        values: dict[str, Any] = {
            "id": new_id(), "integration_id": new.integration_id, "source_event_id": new.source_event_id,
            "organisation_id": new.organisation_id, "subject_type": new.subject_type, "kind": new.kind,
            "status": new.status, "attempts": 0, "force_write": False, "payload": new.payload,
            "received_at": now, "finished_at": now if skipped else None,
            "outcome": _skipped_outcome(new) if skipped else None,
            "sent_at": now if message_id else None, "message_id": message_id, "source": SOURCE,
        }
        bound = [(name, process(values[name]) if process else values[name]) for name, process in self._binds]
        parameters: Any = [value for _, value in bound] if self._positional else dict(bound)
        raw = self._connection()
        try:
            cursor = raw.cursor()
            try:
                with self._one_writer:
                    cursor.execute(self._sql, parameters)
            finally:
                cursor.close()
            if not self._autocommit:
                raw.commit()
        except self._errors.IntegrityError:
            raw.rollback()
            return self._first(new), True
        except self._errors.Error as error:
            self._discard(raw)
            raise NotRecorded(str(error)) from error
        return Recorded(values["id"], new.status), False

    def _connection(self) -> Any:
        """This thread's connection, taken from the pool on first use."""
        held = getattr(self._local, "held", None)
        if held is None:
            try:
                held = self._local.held = _Held(self.db.engine.raw_connection())
            except Exception as error:  # the pool wraps a refused connection in its own error
                raise NotRecorded(str(error)) from error
        return held.connection

    def _discard(self, raw: Any) -> None:
        """After an error the connection may be broken (a restarted PostgreSQL): the next
        delivery takes a fresh one."""
        with contextlib.suppress(Exception):  # already unusable: nothing more to release
            raw.invalidate()
        self._local.held = None

    def _first(self, new: NewEvent) -> Recorded:
        """The event this delivery repeats; none means the INSERT failed for another reason
        (a foreign key): not recorded."""
        with self.db.read_engine.connect() as connection:
            row = connection.execute(
                select(Event.id, Event.status).where(
                    Event.integration_id == new.integration_id, Event.source_event_id == new.source_event_id,
                )
            ).first()
        if row is None:
            raise NotRecorded("the event could not be inserted")
        return Recorded(row.id, row.status)


class _Held:
    """A pooled connection kept by one thread; given back to the pool when the thread ends
    (its thread-local values are dropped then) or the intake is dropped."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter exit the pool may be gone already
            self.connection.close()
