"""Engine and sessions. SQLite (WAL) on one machine, PostgreSQL beyond it.

SQLite runs in WAL mode with a busy timeout so that the web process and the workers can write
at once; a committed event survives a crash of the process (docs/architecture.md, first invariant).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, cast

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import CursorResult, Engine, Result
from sqlalchemy.orm import Session, sessionmaker

#: Milliseconds a SQLite writer waits for another's lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 10_000
#: ``SQLITE_SYNCHRONOUS`` (optional): what a committed transaction survives, in WAL mode.
#: - ``OFF``: a crash of the process (the OS has the pages); a power loss or OS crash may lose
#:   recent commits and can corrupt the database.
#: - ``NORMAL`` (the default): a crash of the process, always; a power loss or OS crash keeps the
#:   database consistent but may roll back the last commits (the WAL is synced at checkpoints,
#:   not at each commit). A 2xx answered is an event that survives any crash of our processes.
#: - ``FULL``: also a power loss or OS crash: the WAL is synced at every commit (one fsync per
#:   delivery; on this machine several times the cost of the whole delivery without it).
#: - ``EXTRA``: as FULL, and the directory is synced too (only matters outside WAL mode).
#: PostgreSQL's equivalent is its own ``synchronous_commit``, set on the server.
SQLITE_SYNCHRONOUS_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")


def sqlite_synchronous(env: Mapping[str, str] | None = None) -> str:
    """The configured level; a value not in the list stops the process naming the variable."""
    raw = (env if env is not None else os.environ).get("SQLITE_SYNCHRONOUS") or "NORMAL"
    if raw.upper() not in SQLITE_SYNCHRONOUS_LEVELS:
        raise SystemExit(f"SQLITE_SYNCHRONOUS must be one of {', '.join(SQLITE_SYNCHRONOUS_LEVELS)}, not {raw!r}")
    return raw.upper()


def make_engine(url: str, *, begin_immediate: bool = True, **options: Any) -> Engine:
    """An engine for ``url``; creates the SQLite file's folder and sets its pragmas.

    ``begin_immediate``: SQLite transactions take the write lock at BEGIN (for writers);
    without it they are deferred, which in WAL mode never waits for a writer (for readers)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            **options,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate if begin_immediate else _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, **options)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is switched off so that BEGIN IMMEDIATE below is ours.
    connection.isolation_level = None
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={sqlite_synchronous()}")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


def _sqlite_begin_immediate(connection: Any) -> None:
    # Take the write lock at BEGIN: a deferred transaction that reads and then writes can fail
    # with "database is locked" at once instead of waiting on the busy timeout.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """The engine and a session factory; ``with db.session() as s:`` commits on success."""

    def __init__(self, url: str, **options: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **options)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite: reads on an engine of their own whose transactions never queue behind a
        # writer (WAL readers see the last commit); elsewhere the one engine serves both.
        self.read_engine = (
            make_engine(url, begin_immediate=False, **options) if url.startswith("sqlite") else self.engine
        )
        self._reads = sessionmaker(self.read_engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only session: nothing is committed."""
        session = self._reads()
        try:
            yield session
        finally:
            session.close()  # ends the transaction; loaded objects stay readable, detached

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def create_all(self) -> None:
        """Create the tables directly (tests); production uses ``alembic upgrade head``."""
        from core.tables import Base

        Base.metadata.create_all(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()


def rows_matched(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE matched. ``Session.execute`` is typed as returning any
    ``Result``; for a DML statement it is a ``CursorResult``, the kind that has ``rowcount``."""
    return cast("CursorResult[Any]", result).rowcount
