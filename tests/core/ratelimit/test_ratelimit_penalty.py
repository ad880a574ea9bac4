"""A 429 holds back the tenant's workers; concurrency slots free themselves; waits are counted."""
from __future__ import annotations

import multiprocessing
import os
import time

import pytest
import redis
from prometheus_client import REGISTRY

from core.errors import RateLimited
from core.ratelimit import Limits, RateLimiter

from .conftest import REDIS_URL


def _limiter(client: redis.Redis, tenant: str, **options: object) -> RateLimiter:
    limits = options.pop("limits", Limits(per_minute=100))
    return RateLimiter(
        client, system=str(options.pop("system", "xero")), tenant=tenant,
        limits=limits, **options,  # type: ignore[arg-type]
    )


def test_a_penalty_holds_back_other_workers_of_the_tenant_only(
    redis_db: redis.Redis, tenant: str
) -> None:
    # Given one worker of tenant A met a 429 asking for 0.5 s
    _limiter(redis_db, tenant).penalise(0.5)
    # When another worker of tenant A and a worker of tenant B each make a call
    started = time.monotonic()
    _limiter(redis.Redis.from_url(REDIS_URL), f"{tenant}-b").acquire()
    other_tenant_waited = time.monotonic() - started
    _limiter(redis.Redis.from_url(REDIS_URL), tenant, max_wait=5).acquire()
    same_tenant_waited = time.monotonic() - started
    # Then tenant A's worker waited out the penalty and tenant B's did not wait
    assert other_tenant_waited < 0.1
    assert 0.45 <= same_tenant_waited < 0.8


def test_an_impatient_caller_is_told_how_long_the_penalty_lasts(
    redis_db: redis.Redis, tenant: str
) -> None:
    # Given a 10 s penalty
    _limiter(redis_db, tenant).penalise(10)
    # When a caller that may wait 2 s asks (a web request's auto-suggest)
    started = time.monotonic()
    with pytest.raises(RateLimited) as refused:
        _limiter(redis_db, tenant, max_wait=2).acquire()
    # Then it is refused at once, with the penalty's remaining time
    assert time.monotonic() - started < 0.2
    assert 9.5 <= refused.value.retry_after <= 10


def test_a_shorter_penalty_does_not_cut_a_longer_one(redis_db: redis.Redis, tenant: str) -> None:
    # Given a day-limit penalty, then a minute-limit one
    limiter = _limiter(redis_db, tenant, max_wait=0)
    limiter.penalise(600)
    limiter.penalise(1)
    # When a call is made
    with pytest.raises(RateLimited) as refused:
        limiter.acquire()
    # Then the longer penalty still holds
    assert refused.value.retry_after > 590


def _take_a_slot_and_die(tenant: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    limiter = _limiter(client, tenant, limits=Limits(concurrent=1), slot_ttl=0.4)
    limiter.acquire()
    os._exit(0)  # killed mid-call: the slot is never released


def test_the_slot_of_a_killed_worker_expires(redis_db: redis.Redis, tenant: str) -> None:
    # Given a worker process took the only concurrency slot and died holding it
    fork = multiprocessing.get_context("fork")
    child = fork.Process(target=_take_a_slot_and_die, args=(tenant,))
    child.start()
    child.join(timeout=10)
    limiter = _limiter(redis_db, tenant, limits=Limits(concurrent=1), slot_ttl=0.4, max_wait=0)
    # When another worker asks at once, and then patiently
    with pytest.raises(RateLimited):
        limiter.acquire()
    started = time.monotonic()
    _limiter(redis_db, tenant, limits=Limits(concurrent=1), max_wait=2).acquire()
    # Then the first was refused and the second got the slot once it expired
    assert child.exitcode == 0
    assert time.monotonic() - started < 0.6


def test_a_released_slot_is_free_at_once(redis_db: redis.Redis, tenant: str) -> None:
    # Given the only slot was taken and released
    limiter = _limiter(redis_db, tenant, limits=Limits(concurrent=1), max_wait=0)
    limiter.release(limiter.acquire())
    # When another call is made, it gets the slot without waiting
    assert limiter.acquire()


def _waits(system: str) -> float:
    return REGISTRY.get_sample_value("rate_limit_waits_total", {"system": system}) or 0.0


def _wait_seconds(system: str) -> float:
    return REGISTRY.get_sample_value("rate_limit_wait_seconds_total", {"system": system}) or 0.0


def test_waits_are_counted_in_the_metrics(redis_db: redis.Redis, tenant: str) -> None:
    # Given a limit of 1 call per 0.3 s, on a system name of this test's own
    system = "metrics-test"
    limits = Limits(per_minute=1, window=0.3)
    limiter = _limiter(redis_db, tenant, system=system, limits=limits, max_wait=2)
    # When one call finds room and the next must wait
    limiter.acquire()
    unwaited = _waits(system)
    limiter.acquire()
    # Then only the second counts as a wait, with its seconds
    assert unwaited == 0
    assert _waits(system) == 1
    assert _wait_seconds(system) >= 0.25


def test_an_unknown_priority_is_refused(redis_db: redis.Redis, tenant: str) -> None:
    with pytest.raises(ValueError):
        _limiter(redis_db, tenant, priority="urgent")


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        Limits(per_minute=0)
