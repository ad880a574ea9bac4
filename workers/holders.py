"""Releases what dead processes of this host held: organisation locks, event leases, limiter slots.

Without this, a worker SIGKILLed mid-sync keeps its organisations locked, its events leased and
its rate-limiter slots taken until each expires (issue 13, finding 8). Every lock, lease and
slot names its holder (``core.holders``: host, pid, start time), and each worker process sweeps
its own host: at boot (a restarted worker) and every ``SWEEP_INTERVAL`` seconds (a worker that
lived through a peer's death). For each holder listed on this host whose process is gone it:

1. puts its leased events back as owed (``events.release_holder``, as ``recover_lapsed`` does
   for a lapsed lease), so the relay re-sends them and the next claim counts the open attempt;
2. deletes its locks, each only if it still holds the holder's own fencing token;
3. frees its concurrency slots, each by its own slot id;
4. forgets the holder, once all of that is done (a failure leaves it for the next sweep).

Why this is safe. Liveness is decided by the kernel of the host the holder ran on: its pid is
gone, or is now a later process (another start time), or a zombie. A dead process makes no
further call, renews nothing and writes nothing, so nothing it began can land after its lock is
released, except bytes it had already sent: a create that the accounting system applies after
the death is the lost-answer case the sent-creates markers resolve on the retry, exactly as
after a timeout. Each release is conditional on the grant being the dead holder's own (its
fencing token, its slot id, ``lease_holder``), so a grant someone else took since is never
touched, and two sweepers racing release each thing once. A holder on another host is never
judged here (its pid names nothing on this one): its grants lapse with their TTL
(``core.locks.DEFAULT_TTL``, ``core.ratelimit.SLOT_TTL``) and the relay's ``recover_lapsed``.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import dramatiq
import structlog
from dramatiq.middleware import Middleware

from core import holders
from core.db import Database
from core.holders import Holder
from core.locks import RELEASE_SCRIPT
from core.ratelimit import release_slot
from core.runtime import runtime
from core.store import events

log = structlog.get_logger(__name__)

#: Seconds between two sweeps of a live worker: a peer's death is noticed within this, well
#: inside the 60 s in which another worker must take its events over.
SWEEP_INTERVAL = 2.0


@dataclass
class Released:
    """What one sweep gave back."""

    holders: int = 0
    leases: int = 0
    locks: int = 0
    slots: int = 0


def sweep(redis: Any, db: Database) -> Released:
    """Release everything held by the dead processes of this host (module docstring)."""
    me = holders.this_process()
    released = Released()
    release_lock = redis.register_script(RELEASE_SCRIPT)
    for raw in redis.smembers(holders.host_key(me.host)):
        holder = Holder.parse(raw)
        if holder is None or holder.host != me.host:
            continue
        if holder == me or holder.is_alive():
            continue
        released.leases += events.release_holder(db, holder.id)
        listing = holders.locks_key(holder.id)
        for key, token in redis.hgetall(listing).items():
            released.locks += int(release_lock(keys=[key, listing], args=[token]))
        slots = holders.slots_key(holder.id)
        for slot, slot_set in redis.hgetall(slots).items():
            release_slot(redis, slot, slot_set, slots)
            released.slots += 1
        redis.delete(listing, slots)
        redis.srem(holders.host_key(me.host), raw)
        released.holders += 1
    if released.holders:
        log.warning("released what dead processes held", holders=released.holders,
                    leases=released.leases, locks=released.locks, slots=released.slots)
    return released


class HolderSweeper(Middleware):
    """Sweeps this host at the worker's boot, then every ``SWEEP_INTERVAL`` seconds."""

    def __init__(self, interval: float = SWEEP_INTERVAL) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="holder-sweeper", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        rt = runtime()
        while True:  # the first sweep at once: a restarted worker frees its predecessor's work
            try:
                sweep(rt.redis, rt.db)
            except Exception as error:  # noqa: BLE001 - Redis or the database away: next beat
                log.warning("holder sweep failed", error=f"{type(error).__name__}: {error}")
            if self._stop.wait(self.interval):
                return
