"""The web process's hand-off to the broker, off the request path: one background thread per
process sends the webhooks' messages in pipelined batches.

Why this keeps the webhook's promise: the event, its message id and its ``sent_at`` are
committed *before* the answer (``core.store.event_intake``); the message only tells a worker to
look. If this process dies with messages still waiting here, nothing is lost: the relay
(``workers.outbox.relay_once``) re-sends every owed event that was sent longer ago than
``RESEND_AFTER_SECONDS`` and is still unclaimed, exactly as it does for a message Redis lost.
When the broker refuses a batch, its events are marked unsent (as ``outbox.send_prepared`` does for
one), so the relay sends them at its next pass instead of after the bound. A graceful exit
sends what is waiting first (``atexit``).

Why a thread: issue 18 measured the per-request ``EVALSHA`` round trip (redis-py's command
packing, its connection pool, the socket wait) as the largest single cost of a webhook, 16 %
of the CPU and a third of the request time. Sent here, N deliveries share one round trip, and
the request thread answers as soon as its commit is done.
"""
from __future__ import annotations

import atexit
import os
import queue
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError

from core.db import Database
from core.store import events
from workers import messages
from workers.broker import OutboxRedisBroker

log = structlog.get_logger(__name__)

#: At most this many messages share one pipelined round trip.
MAX_BATCH = 256
#: How long the first message waits for others to share its round trip: a worker hears of an
#: event this much later, which the webhook's answer never waits for (issue 18: at 1,000
#: deliveries a second a process sent batches of two or three, each costing a round trip).
SEND_LINGER_SECONDS = 0.005
#: An idle sender thread ends after this long (a new one starts with the next message), so a
#: process that stops receiving webhooks, or a test's app, leaves no thread behind.
IDLE_SECONDS = 5.0
#: How long a graceful exit waits for the messages still waiting here.
EXIT_FLUSH_SECONDS = 5.0


class OutboxSender:
    """Sends ``sync_event`` messages for events already committed as sent under their message
    ids. ``submit`` never blocks on Redis; ``flush`` waits until everything submitted is sent
    (or given back to the relay)."""

    def __init__(self, db: Database) -> None:
        # Weakly: a sender must not keep a test's database (and its pool) alive.
        self._db = weakref.ref(db)
        self._reset()
        _live.add(self)

    def _reset(self) -> None:
        # Also after a fork: the parent's thread does not exist in the child, and its lock may
        # have been held at the fork.
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pending = 0
        self._idle = threading.Condition(self._lock)

    def submit(self, event_id: str, message_id: str) -> None:
        """Queue the message of an event committed with ``message_id``; returns at once."""
        if self._pid != os.getpid():
            self._reset()
        with self._lock:
            self._pending += 1
            self._queue.put((event_id, message_id))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="outbox-sender", daemon=True)
                self._thread.start()

    def flush(self, timeout: float) -> bool:
        """Wait until every submitted message is sent or handed back to the relay."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending and self._pid == os.getpid():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    # ``submit`` puts and checks the thread under this lock, so a message put
                    # now is either seen here or starts a new thread.
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            # A moment for the deliveries in flight to join this one's round trip: a batch's
            # own cost (the pipeline, the socket's send and receive) is most of a small batch's.
            time.sleep(SEND_LINGER_SECONDS)
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._send(batch)
            finally:
                with self._lock:
                    self._pending -= len(batch)
                    if not self._pending:
                        self._idle.notify_all()

    def _send(self, batch: Sequence[tuple[str, str]]) -> None:
        prepared = [messages.message(messages.SYNC_EVENT, event_id, message_id=message_id)
                    for event_id, message_id in batch]
        try:
            _enqueue(messages.current_broker(), prepared)
            return
        except messages.BROKER_UNAVAILABLE as error:
            log.warning("broker unavailable; the relay will send the events", events=len(batch),
                        error=type(error).__name__)
        except Exception:  # noqa: BLE001 - a thread that dies would strand every later message
            log.exception("could not send; the relay will send the events", events=len(batch))
        db = self._db()
        try:
            if db is not None:
                events.mark_unsent(db, batch)
        except SQLAlchemyError:
            pass  # the relay re-sends them after RESEND_AFTER_SECONDS anyway


#: Every sender of the process, flushed at a graceful exit.
_live: weakref.WeakSet[OutboxSender] = weakref.WeakSet()


def flush_all(timeout: float) -> bool:
    """Wait until every message submitted in this process is sent or handed back to the relay
    (a graceful exit; a test that looks in Redis right after an answer)."""
    deadline = time.monotonic() + timeout
    return all([sender.flush(max(0.0, deadline - time.monotonic())) for sender in list(_live)])


@atexit.register
def _flush_at_exit() -> None:
    flush_all(EXIT_FLUSH_SECONDS)


def _enqueue(broker: Any, prepared: list[Any]) -> None:
    if isinstance(broker, OutboxRedisBroker):
        broker.enqueue_prepared(prepared)
        return
    # RabbitMQ (each send waits for its publisher confirm): one at a time, through its own
    # ``enqueue``, still off the request path.
    for message in prepared:
        broker.enqueue(message)
