"""Real worker processes for the lifecycle machine, which its kill step SIGKILLs.

A worker is ``dramatiq workers.actors`` exactly as the Procfile starts it, in a process group of
its own (``tests.reliability.conftest.WorkerProcess``), on the test's Redis and SQLite file, with
the same settings as the test's runtime. The outbox relay ticks in the test process, as the
scheduler runs it, so that the events a killed worker held (their lease lapsed) and the
messages it had fetched are sent again.

The lock TTL (and event lease) is short, so that a killed worker's work is taken back within
seconds rather than two minutes; the HTTP timeouts are shortened to match, as
``core.locks.check_budget`` requires (one call must fit in the TTL after its fencing check).
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import workers.outbox
from tests.conftest import make_env
from tests.reliability.conftest import Relay, WorkerPool, WorkerProcess

#: The organisation lock's TTL and the event lease here (production: 120 s).
LOCK_TTL_SECONDS = 4.0
#: Seconds the stand-in holds a write the kill (or the lock's expiry) catches in flight: below
#: the read timeout, so a live worker would have had its answer.
HELD_CALL_SECONDS = 1.5
#: The relay sends an owed event again once it was sent this long ago and nobody took it (a
#: message a killed worker had fetched; production: 30 s).
RESEND_AFTER_SECONDS = 2.0


def lifecycle_env(database_url: str, **extra: str) -> dict[str, str]:
    """The settings shared by the test's runtime and its worker processes."""
    return make_env(
        database_url, LOCK_TTL_SECONDS=str(LOCK_TTL_SECONDS),
        HTTP_CONNECT_TIMEOUT_SECONDS="0.5", HTTP_READ_TIMEOUT_SECONDS="3", **extra,
    )


class Workers:
    """One worker process at a time (``kill`` SIGKILLs it, ``start`` brings a fresh one) and
    the outbox relay beside it."""

    def __init__(self, rt: Any, env: dict[str, str], folder: Path, *, threads: int = 3) -> None:
        # ``WorkerPool`` reads dramatiq's heartbeats (a started worker consumes) from a Redis
        # server object: here the test's own Redis.
        self.pool = WorkerPool(env, folder, SimpleNamespace(client=lambda: rt.redis))
        self.relay = Relay(rt)
        self.threads = threads
        self.current: WorkerProcess | None = None
        self._resend_after = workers.outbox.RESEND_AFTER_SECONDS

    def __enter__(self) -> "Workers":
        workers.outbox.RESEND_AFTER_SECONDS = RESEND_AFTER_SECONDS
        self.start()
        self.relay.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.relay.stop()
            self.pool.stop_all()
        finally:
            workers.outbox.RESEND_AFTER_SECONDS = self._resend_after

    def start(self) -> None:
        """A fresh worker process, once it consumes."""
        self.current = self.pool.start(threads=self.threads)[0]

    def kill(self) -> None:
        """SIGKILL the worker process and its forked child: no clean shutdown, no ack."""
        if self.current is not None:
            self.current.kill()
            self.current = None

    def log(self) -> str:
        return self.current.log() if self.current is not None else ""
