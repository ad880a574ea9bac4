"""Recovery times after the faults of issue 13, with real processes (nothing patched).

    python -m bench.recovery [--events 30] [--only kill_restart,kill_other,no_fault,fetch_drop,redis_flush]

The service runs as the Procfile says (gunicorn, ``dramatiq workers.actors`` and the scheduler
whose relay re-sends what is owed), on a private Redis reached through a TCP proxy on loopback
(``tests/tcp_proxy.py``), with the sandbox's rental system and Xero, whose create calls are held
for ``HELD_SECONDS`` so that events are in flight when the fault comes. Each scenario sends
``--events`` creates, then:

- ``kill_restart``: SIGKILL of the worker process group with the events in flight, and a new
  worker at once; figure: seconds from the new worker's start until every event succeeded
  (target 15 s);
- ``kill_other``: the same with a second worker alive all along and no restart; seconds from the
  kill (target 60 s);

  for both, the note also gives when everything the killed worker held (organisation locks, by
  their fencing tokens, and event leases) was released, from the same start: the rest of the
  figure is the work itself (the creates still held by the stand-in, five at a time: Xero's
  concurrency limit);
- ``no_fault``: the reference for both: nothing is killed; seconds from the same moment (as
  many creates sent as the kill waits for) until every event succeeded, which is the work left,
  not recovery;
- ``fetch_drop``: the proxy drops the worker's next fetch reply that carries messages; seconds
  from the drop;
- ``redis_flush``: Redis is flushed while the events wait in its queue (no worker yet), then a
  worker starts; seconds from the flush.

Settings are production's (``LOCK_TTL_SECONDS`` 30, the relay's 30 s re-send bound, Dramatiq's
heartbeat timeout as ``workers.broker`` sets it) unless ``--lock-ttl`` says otherwise, except
that the rate limits' minute is shortened to ``LIMIT_WINDOW`` seconds (service and sandbox).
"""
from __future__ import annotations

import argparse
import itertools
import os
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import requests

from bench.common import (
    Sandbox,
    Service,
    _signal_group,
    emit,
    procfile_command,
    seed_member,
    webhook_body,
    wire_integration,
)

HELD_SECONDS = 3.0
LIMIT_WINDOW = 1.0
TARGETS = {"kill_restart": 15.0, "kill_other": 60.0, "fetch_drop": 60.0, "redis_flush": 60.0}
TIMEOUT = 400.0
WORKER_THREADS = 15  # with a prefetch of as many: 30 events held by one process


def succeeded(rt: Any, ids: list[str]) -> bool:
    from sqlalchemy import func, select

    from core.tables import Event

    with rt.db.reading() as session:
        done = session.scalar(select(func.count()).where(Event.id.in_(ids), Event.status == "succeeded"))
    return done == len(ids)


def wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def held_by(rt: Any, group: int) -> tuple[dict[bytes, bytes], dict[str, Any]]:
    """What the processes of the worker's process group ``group`` hold: organisation locks (key
    -> fencing token, from each holder's listing) and event leases (id -> claim time)."""
    from sqlalchemy import select

    from core import holders
    from core.holders import Holder
    from core.tables import Event

    pids = {group} | {child.pid for child in psutil.Process(group).children(recursive=True)}
    ids = [raw.decode() for raw in rt.redis.smembers(holders.host_key(holders.this_host()))
           if (holder := Holder.parse(raw)) is not None and holder.pid in pids]
    locks: dict[bytes, bytes] = {}
    for holder_id in ids:
        locks.update(rt.redis.hgetall(holders.locks_key(holder_id)))
    with rt.db.reading() as session:
        leases = dict(session.execute(select(Event.id, Event.started_at).where(
            Event.lease_holder.in_(ids), Event.status == "processing")).all())
    return locks, leases


def released(rt: Any, before: tuple[dict[bytes, bytes], dict[str, Any]]) -> bool:
    """Nothing the killed worker held is still held: no lock with its token, no event under
    the lease it had at the kill."""
    from sqlalchemy import select

    from core.tables import Event

    locks, leases = before
    with rt.db.reading() as session:
        now = dict(session.execute(select(Event.id, Event.started_at).where(
            Event.id.in_(list(leases)), Event.status == "processing")).all())
    return (all(rt.redis.get(key) != token for key, token in locks.items())
            and all(now.get(event) != started for event, started in leases.items()))


def creates_in_flight(sandbox: Sandbox) -> int:
    calls = sandbox.get(sandbox.xero, "calls")["calls"]
    return sum(1 for c in calls if c["method"] == "PUT" and c["path"].endswith("/Contacts"))


def scenario(name: str, events: int, lock_ttl: float | None) -> tuple[float | None, str]:
    """(seconds until every event succeeded, from the scenario's start; for the kill scenarios,
    what the killed worker held and how soon after that start it was released)."""
    from tests.reliability.conftest import PrivateRedis
    from tests.tcp_proxy import TcpProxy, dramatiq_fetch_with_messages
    from workers.broker import SYNC_QUEUE

    server = PrivateRedis(Path(tempfile.mkdtemp(prefix="recovery-redis-"))).start()
    proxy = TcpProxy(server.port).start()
    os.environ["BENCH_REDIS_URL"] = proxy.url
    extra = {"LOG_LEVEL": "WARNING", "RECONCILE_INTERVAL_SECONDS": "0", "WORKER_THREADS": str(WORKER_THREADS),
             "BATCH_CREATES": "0"}
    if lock_ttl:
        extra["LOCK_TTL_SECONDS"] = str(lock_ttl)
    # The limiter's "minute" is shortened to LIMIT_WINDOW seconds, so that 30 syncs and their
    # retries measure the recovery, not the rental system's 60 calls a minute.
    sandbox = Sandbox(window=LIMIT_WINDOW, rate_limit=10_000)
    service = Service(window=LIMIT_WINDOW, extra_env=extra)
    worker_command = procfile_command("worker").replace("${WORKER_PROCESSES:-1}", "1")
    try:
        rt = service.runtime()
        wired = wire_integration(rt, sandbox)
        members = [seed_member(sandbox, wired.subdomain, f"Recovery {n} {time.time_ns()}") for n in range(events)]
        service.start_web()
        service.start("scheduler")
        sandbox.post(sandbox.xero, "faults", {"mode": "delay", "delay": HELD_SECONDS, "method": "PUT",
                                              "path": "/Contacts$", "times": events})
        worker = None if name == "redis_flush" else service.start("worker1", worker_command)
        if name == "kill_other":
            service.start("worker2", worker_command)
        if name == "fetch_drop":
            time.sleep(3.0)  # the worker is consuming
            proxy.drop_reply(dramatiq_fetch_with_messages(SYNC_QUEUE))
        before: tuple[dict[bytes, bytes], dict[str, Any]] | None = None
        action_ids = itertools.count(time.time_ns())
        session = requests.Session()
        ids = [session.post(f"{service.url}{wired.webhook_path}", data=webhook_body(m, next(action_ids)),
                            headers={"Content-Type": "application/json"}, timeout=30).json()["event_id"]
               for m in members]
        if name in ("kill_restart", "kill_other"):
            assert worker is not None
            wait(lambda: creates_in_flight(sandbox) >= WORKER_THREADS // 2, 60)
            before = held_by(rt, worker.pid)
            _signal_group(worker.pid, signal.SIGKILL)
            worker.popen.wait(timeout=10)
            service.processes.remove(worker)
            start = time.monotonic()
            if name == "kill_restart":
                service.start("worker1b", worker_command)
                start = time.monotonic()
        elif name == "no_fault":
            wait(lambda: creates_in_flight(sandbox) >= WORKER_THREADS // 2, 60)
            start = time.monotonic()
        elif name == "fetch_drop":
            start = time.monotonic()
        else:  # redis_flush
            time.sleep(1.0)
            server.flush()
            start = time.monotonic()
            service.start("worker1", worker_command)
        released_after: float | None = None
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if before is not None and released_after is None and released(rt, before):
                released_after = time.monotonic() - start
            if succeeded(rt, ids):
                break
            time.sleep(0.2)
        else:
            return None, ""
        total = time.monotonic() - start
        if before is None:
            return total, ""
        freed = f"{released_after:.1f} s" if released_after is not None else "never"
        return total, (f"; the killed worker's {len(before[0])} locks and {len(before[1])} leases "
                       f"released after {freed}")
    finally:
        service.stop()
        sandbox.stop()
        proxy.stop()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=30)
    parser.add_argument("--only", default=",".join(TARGETS), help=f"of {', '.join([*TARGETS, 'no_fault'])}")
    parser.add_argument("--lock-ttl", type=float, default=None, help="LOCK_TTL_SECONDS (default: production's)")
    args = parser.parse_args()
    for name in args.only.split(","):
        seconds, freed = scenario(name, args.events, args.lock_ttl)
        figure = round(seconds, 1) if seconds is not None else None
        print(f"{name}: {figure} s{freed}", flush=True)
        ttl = f"LOCK_TTL_SECONDS={args.lock_ttl:g}" if args.lock_ttl else "production settings"
        target = TARGETS.get(name)
        emit(f"recovery: {name}", figure, unit="s", target=f"<= {target:.0f} s" if target else "reference",
             met=None if target is None else figure is not None and figure <= target,
             note=f"{args.events} events in flight; {ttl}{freed}")


if __name__ == "__main__":
    main()
