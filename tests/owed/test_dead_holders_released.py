"""What a dead process held is released by a peer on its host, and nothing else is (issue 13,
finding 8). A real child process takes an organisation lock, an event lease and a limiter slot,
with TTLs of ten minutes, and is SIGKILLed; ``workers.holders.sweep`` in this process must free
all three at once, and must leave alone the grants of a live process, of a process on another
host, and grants taken over since by someone else.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import psutil
import pytest
from sqlalchemy import update

from core import holders
from core.errors import ConfigError, RateLimited
from core.holders import Holder
from core.locks import OrganisationLock, check_budget
from core.models import EventStatus
from core.ratelimit import Limits, RateLimiter
from core.settings import Settings
from core.store import events, integrations
from core.store.events import NewEvent
from core.store.integrations import NewIntegration
from core.tables import Event, utcnow
from tests.support import wait_for
from workers.holders import sweep

ROOT = Path(__file__).resolve().parents[2]
TEN_MINUTES = 600.0
ORGANISATION = 7
TENANT = "tenant-1"
LIMITS = Limits(concurrent=1)

#: The child: claims the event, takes the lock and the one slot, says so, then waits for ever.
CHILD = """
import os, time
import redis
from core.db import Database
from core.locks import OrganisationLock
from core.ratelimit import Limits, RateLimiter
from core.store import events

r = redis.Redis.from_url(os.environ["REDIS_URL"])
db = Database(os.environ["DATABASE_URL"])
assert events.claim_due(db, os.environ["EVENT_ID"], lease_seconds=600) is not None
ttl = float(os.environ["LOCK_TTL"])
lock = OrganisationLock(r, integration_id=os.environ["INTEGRATION_ID"], organisation_id=7, ttl=ttl)
assert lock.acquire()
RateLimiter(r, system="xero", tenant="tenant-1", limits=Limits(concurrent=1), max_wait=0).acquire()
print("held", flush=True)
time.sleep(600)
"""


class Child:
    def __init__(self, rt: Any, event_id: str, integration_id: str, lock_ttl: float = TEN_MINUTES) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": rt.settings.redis_url,
               "DATABASE_URL": rt.settings.database_url, "EVENT_ID": event_id,
               "INTEGRATION_ID": integration_id, "LOCK_TTL": str(lock_ttl)}
        self.process = subprocess.Popen([sys.executable, "-c", CHILD], cwd=ROOT, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # bounded: the child asserts or prints within seconds
        assert line.strip() == b"held", self.process.stderr.read() if self.process.stderr else line
        self.holder = Holder(host=holders.this_host(), pid=self.process.pid,
                             started=f"{psutil.Process(self.process.pid).create_time():.2f}")

    def kill(self, *, reap: bool = True) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        if reap:
            self.process.wait(timeout=10)
        else:  # killed, not yet reaped by its parent: a zombie whose pid still exists
            wait_for(lambda: psutil.Process(self.process.pid).status() == psutil.STATUS_ZOMBIE,
                     timeout=10, what="a zombie")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def owed(rt: Any) -> tuple[str, str]:
    """(integration id, id of a queued event of organisation 7)."""
    integration, _ = integrations.create(rt.db, rt.vault, NewIntegration(
        name="Acme to Xero", provider_kind="xero", source_subdomain="acme", secrets={"source_api_key": "k"}))
    event, _ = events.record(rt.db, NewEvent(
        integration_id=integration.id, source_event_id="1", organisation_id=ORGANISATION,
        subject_type="Member", kind="create", payload={}))
    return integration.id, event.id


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        child.close()


def lock_of(rt: Any, integration_id: str) -> OrganisationLock:
    return OrganisationLock(rt.redis, integration_id=integration_id, organisation_id=ORGANISATION, ttl=TEN_MINUTES)


def slot_free(rt: Any) -> bool:
    limiter = RateLimiter(rt.redis, system="xero", tenant=TENANT, limits=LIMITS, max_wait=0)
    try:
        limiter.release(limiter.acquire())
        return True
    except RateLimited:
        return False


@pytest.mark.parametrize("reap", [True, False], ids=["reaped", "zombie"])
def test_a_killed_process_lock_lease_and_slot_are_released_by_a_sweep_of_its_host(
    rt: Any, owed: tuple[str, str], children: list[Child], reap: bool,
) -> None:
    integration_id, event_id = owed
    # Given a live process holding the organisation's lock, the event's lease and the one slot
    child = Child(rt, event_id, integration_id)
    children.append(child)
    event = events.get(rt.db, event_id)
    assert event is not None and event.status == EventStatus.PROCESSING
    assert event.lease_holder == child.holder.id

    # Then a sweep while it lives releases nothing of it
    assert sweep(rt.redis, rt.db).holders == 0
    assert not lock_of(rt, integration_id).acquire()
    assert not slot_free(rt)
    assert events.get(rt.db, event_id).status == EventStatus.PROCESSING  # type: ignore[union-attr]

    # When it is SIGKILLed (its TTLs have ten minutes to run)
    child.kill(reap=reap)

    # Then one sweep frees the lock, the slot and the lease at once
    released = sweep(rt.redis, rt.db)
    assert (released.holders, released.leases, released.locks, released.slots) == (1, 1, 1, 1)
    assert lock_of(rt, integration_id).acquire()
    assert slot_free(rt)
    after = events.get(rt.db, event_id)
    assert after is not None and after.status == EventStatus.RETRYING and after.lease_holder is None
    assert after.sent_at is None  # the relay sends it again
    # and the dead holder is forgotten: a second sweep finds nothing
    assert rt.redis.sismember(holders.host_key(holders.this_host()), child.holder.id) == 0
    assert sweep(rt.redis, rt.db).holders == 0


def test_grants_taken_over_since_by_a_live_process_are_left_alone(
    rt: Any, owed: tuple[str, str], children: list[Child],
) -> None:
    integration_id, event_id = owed
    # Given a process whose lock (1 s TTL) lapsed and was taken by this one, and whose event
    # lease this process took over as well
    child = Child(rt, event_id, integration_id, lock_ttl=1.0)
    children.append(child)
    ours = lock_of(rt, integration_id)
    wait_for(ours.acquire, timeout=10, what="the child's lock to lapse")
    with rt.db.session() as session:  # the child's lease lapsed, as its keeper would have let it
        session.execute(update(Event).where(Event.id == event_id).values(lease_until=utcnow()))
    assert events.claim_due(rt.db, event_id, lease_seconds=TEN_MINUTES) is not None

    # When that process dies and its host is swept
    child.kill()
    released = sweep(rt.redis, rt.db)

    # Then its own slot is freed, but the lock and the lease now held by this process stay
    assert (released.holders, released.leases, released.locks, released.slots) == (1, 0, 0, 1)
    ours.check()  # still ours: LockLost otherwise
    event = events.get(rt.db, event_id)
    assert event is not None and event.status == EventStatus.PROCESSING
    assert event.lease_holder == holders.this_process().id


def test_a_holder_of_another_host_is_never_judged_by_pid(rt: Any, owed: tuple[str, str]) -> None:
    integration_id, _ = owed
    # Given a lock listed under a holder on another host whose pid does not exist here
    other = Holder(host="elsewhere:boot:pid:[1]", pid=2 ** 22 + 1, started="1.00")
    key = f"lock:organisation:{integration_id}:{ORGANISATION}"
    rt.redis.set(key, "5", px=600_000)
    rt.redis.hset(holders.locks_key(other.id), key, "5")
    rt.redis.sadd(holders.host_key(other.host), other.id)
    # and, listed on this host by mistake, the same holder
    rt.redis.sadd(holders.host_key(holders.this_host()), other.id)

    # When this host is swept, then its lock stays until its TTL
    assert sweep(rt.redis, rt.db).holders == 0
    assert rt.redis.get(key) == b"5"


def test_a_reused_pid_is_a_dead_holder_and_this_process_a_live_one() -> None:
    me = holders.this_process()
    assert me.is_alive()
    assert Holder.parse(me.id) == me
    # the same pid with another start time: the process that had it first is gone
    assert not Holder(host=me.host, pid=me.pid, started="1.00").is_alive()


def test_the_default_ttl_covers_one_call_and_a_slot_that_cannot_is_refused_at_start_up() -> None:
    defaults = Settings()
    assert defaults.lock_ttl_seconds == 30.0
    check_budget(defaults.lock_ttl_seconds, defaults.http_timeout)  # the defaults start
    with pytest.raises(ConfigError, match="LOCK_TTL_SECONDS"):
        check_budget(23.0, defaults.http_timeout)
    # a lock TTL long enough, but calls longer than a limiter slot lives
    with pytest.raises(ConfigError, match="slot"):
        check_budget(120.0, (5.0, 40.0))
