"""Live before bulk: bulk work leaves a reserve for live calls and stands back while one waits."""
from __future__ import annotations

import threading
import time

import pytest
import redis

from core.errors import RateLimited
from core.ratelimit import Limits, RateLimiter

from .conftest import REDIS_URL


def _limiter(
    client: redis.Redis, limits: Limits, tenant: str, priority: str, max_wait: float
) -> RateLimiter:
    return RateLimiter(
        client, system="xero", tenant=tenant, limits=limits, priority=priority, max_wait=max_wait,
    )


def test_bulk_cannot_use_the_live_reserve(redis_db: redis.Redis, tenant: str) -> None:
    # Given a limit of 5 per window, of which bulk work may use 4
    limits = Limits(per_minute=5, window=10)
    bulk = _limiter(redis_db, limits, tenant, "bulk", max_wait=0)
    for _ in range(4):
        bulk.acquire()
    # When bulk asks for a fifth call, then a live call is made
    with pytest.raises(RateLimited):
        bulk.acquire()
    live_slot = _limiter(redis_db, limits, tenant, "live", max_wait=0).acquire()
    # Then bulk was refused and live got the reserved call
    assert live_slot


def test_a_live_call_gets_in_at_once_while_bulk_saturates(
    redis_db: redis.Redis, tenant: str
) -> None:
    # Given three bulk workers hammering a tenant limited to 10 calls per second
    limits = Limits(per_minute=10, window=1.0)
    bulk_grants: list[float] = []
    stop = threading.Event()

    def bulk_worker() -> None:
        bulk = _limiter(redis.Redis.from_url(REDIS_URL), limits, tenant, "bulk", max_wait=5)
        while not stop.is_set():
            bulk.acquire()
            bulk_grants.append(time.monotonic())

    workers = [threading.Thread(target=bulk_worker) for _ in range(3)]
    for worker in workers:
        worker.start()
    time.sleep(0.3)
    # When a live call is made while bulk is saturated and waiting
    asked = time.monotonic()
    _limiter(redis_db, limits, tenant, "live", max_wait=5).acquire()
    waited = time.monotonic() - asked
    stop.set()
    for worker in workers:
        worker.join(timeout=5)
    # Then bulk had used all it may (8 of 10) and the live call did not wait for the window
    assert len([t for t in bulk_grants if t < asked]) == 8
    assert waited < 0.1


def test_bulk_stands_back_while_live_callers_wait(redis_db: redis.Redis, tenant: str) -> None:
    # Given every concurrency slot (5) is held by live calls, and two more live calls waiting
    limits = Limits(concurrent=5)
    holder = _limiter(redis_db, limits, tenant, "live", max_wait=0)
    held = [holder.acquire() for _ in range(5)]
    granted: dict[str, float] = {}

    def live_caller(name: str) -> None:
        _limiter(redis.Redis.from_url(REDIS_URL), limits, tenant, "live", max_wait=5).acquire()
        granted[name] = time.monotonic()

    waiters = [threading.Thread(target=live_caller, args=(f"live-{i}",)) for i in range(2)]
    for waiter in waiters:
        waiter.start()
    time.sleep(0.2)
    # When all slots come free at once and a bulk call asks immediately
    for slot in held:
        holder.release(slot)
    _limiter(redis_db, limits, tenant, "bulk", max_wait=5).acquire()
    granted["bulk"] = time.monotonic()
    for waiter in waiters:
        waiter.join(timeout=5)
    # Then both waiting live calls were served before the bulk call
    assert granted["bulk"] >= max(granted["live-0"], granted["live-1"])

