"""Keeps what a running sync holds alive: its organisation locks and its events' leases.

A sync may wait far longer than one call: for the rate limiter, for another worker's token
refresh, through a 401 and its refresh, through a bulk batch's pauses. A thread renews every
lock (only while it still holds our token) and every event lease each third of the TTL, so a
live worker keeps both however long it waits, and a killed or frozen one loses both within a
TTL (30 s by default; a killed one on this host loses them at once, to ``workers.holders``).
A lock found taken over is not renewed again; the next fencing check stops the sync.
"""
from __future__ import annotations

import threading
from typing import Sequence

import structlog

from core.db import Database
from core.errors import LockLost
from core.locks import OrganisationLock
from core.store import events

log = structlog.get_logger(__name__)


class Keeper:
    """A context manager: renews ``locks`` and the leases of ``event_ids`` until it exits."""

    def __init__(self, db: Database, *, ttl: float, locks: Sequence[OrganisationLock],
                 event_ids: Sequence[str] = ()) -> None:
        self.db = db
        self.ttl = ttl
        self.locks = list(locks)
        self.event_ids = list(event_ids)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lock-keeper", daemon=True)

    def __enter__(self) -> "Keeper":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            for lock in list(self.locks):
                try:
                    lock.extend()
                except LockLost:
                    self.locks.remove(lock)  # taken over: the next fencing check stops the sync
                except Exception as error:  # Redis away for a moment: try again next beat
                    log.warning("lock renewal failed", error=str(error))
            if self.event_ids:
                try:
                    events.renew_leases(self.db, self.event_ids, lease_seconds=self.ttl)
                except Exception as error:
                    log.warning("lease renewal failed", error=str(error))
