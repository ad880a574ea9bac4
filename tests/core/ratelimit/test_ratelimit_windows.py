"""The limiter keeps every worker of a tenant under each limit, across threads and processes."""
from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Any, Callable

import pytest
import redis
import requests

from core.errors import RateLimited
from core.ratelimit import MIN_WINDOW_MARGIN, Limits, RateLimiter, published_limits
from sandbox.limits import FixedWindow
from sandbox.runner import ServerThread

from .conftest import REDIS_URL


class FixedWindowServer:
    """A server enforcing a fixed window as the real systems do; counts 429s and calls in flight."""

    def __init__(self, *, limit: int, window: float) -> None:
        self.window = FixedWindow(limit=limit, window=window)
        self.in_flight = 0
        self.most_in_flight = 0
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        refused = self.window.hit("tenant") is not None
        time.sleep(0.02)  # a call takes a moment, so concurrent calls overlap
        with self.lock:
            self.in_flight -= 1
        start_response("429 Too Many Requests" if refused else "200 OK", [("Content-Length", "0")])
        return [b""]


def _limiter(client: redis.Redis, limits: Limits, tenant: str, **options: Any) -> RateLimiter:
    return RateLimiter(client, system="xero", tenant=tenant, limits=limits, **options)


def _hammer(url: str, limits: Limits, tenant: str, calls: int) -> None:
    """One worker: acquire, record the time, call the server, release."""
    client = redis.Redis.from_url(REDIS_URL)
    limiter = _limiter(client, limits, tenant, max_wait=30)
    stamps = []
    for _ in range(calls):
        slot = limiter.acquire()
        stamps.append(repr(time.time()))
        try:
            requests.get(url, timeout=(3.05, 20))
        finally:
            limiter.release(slot)
    client.rpush(f"stamps:{tenant}", *stamps)


def _hammer_in_threads(url: str, limits: Limits, tenant: str, threads: int, calls: int) -> None:
    workers = [
        threading.Thread(target=_hammer, args=(url, limits, tenant, calls)) for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def _most_in_any_window(stamps: list[float], window: float) -> int:
    """The most calls that any window of ``window`` seconds, wherever it starts, contains."""
    stamps = sorted(stamps)
    return max(sum(1 for s in stamps[i:] if s < start + window) for i, start in enumerate(stamps))


def test_threads_and_processes_stay_under_the_limit_in_every_window(
    redis_db: redis.Redis, tenant: str
) -> None:
    # Given a server allowing 10 calls per fixed 1 s window, and a limiter with the same figures
    limits = Limits(per_minute=10, concurrent=3, window=1.0)
    server = FixedWindowServer(limit=10, window=1.0)
    with ServerThread(server) as running:
        # When 2 threads here and 2 processes of 2 threads each make 5 calls for one tenant
        fork = multiprocessing.get_context("fork")
        processes = [
            fork.Process(target=_hammer_in_threads, args=(running.url, limits, tenant, 2, 5))
            for _ in range(2)
        ]
        for process in processes:
            process.start()
        _hammer_in_threads(running.url, limits, tenant, 2, 5)
        for process in processes:
            process.join(timeout=30)
    stamps = [float(s) for s in redis_db.lrange(f"stamps:{tenant}", 0, -1)]
    # Then every call was made, none was refused, and no window of 1 s, wherever it starts, saw more
    assert [p.exitcode for p in processes] == [0, 0]
    assert len(stamps) == 30
    assert server.window.refused == {}
    assert _most_in_any_window(stamps, 1.0) <= 10
    assert server.most_in_flight <= 3


def test_a_full_window_refuses_with_the_time_until_the_oldest_call_leaves(
    redis_db: redis.Redis, tenant: str
) -> None:
    # Given two calls made under a limit of 2 per 2 s
    limiter = _limiter(redis_db, Limits(per_minute=2, window=2.0), tenant, max_wait=0.5)
    limiter.acquire()
    limiter.acquire()
    # When a third call may wait only 0.5 s
    started = time.monotonic()
    with pytest.raises(RateLimited) as refused:
        limiter.acquire()
    # Then it is refused at once, saying when room comes (2 s plus the safety margin)
    assert time.monotonic() - started < 0.2
    assert 1.9 <= refused.value.retry_after <= 2.0 + MIN_WINDOW_MARGIN + 0.05


def test_a_call_waits_for_the_window_when_patient(redis_db: redis.Redis, tenant: str) -> None:
    # Given a full window of 2 calls per 0.5 s
    limiter = _limiter(redis_db, Limits(per_minute=2, window=0.5), tenant, max_wait=5)
    limiter.acquire()
    limiter.acquire()
    # When a third call is made
    started = time.monotonic()
    limiter.acquire()
    # Then it waited for the window to pass
    assert 0.45 <= time.monotonic() - started < 1.0


def test_per_second_limit(redis_db: redis.Redis, tenant: str) -> None:
    # Given a limit of 3 calls per second and a generous per-minute limit
    limiter = _limiter(redis_db, Limits(per_minute=500, per_second=3), tenant, max_wait=0)
    for _ in range(3):
        limiter.acquire()
    # When a fourth call is made in the same second
    with pytest.raises(RateLimited) as refused:
        limiter.acquire()
    # Then the per-second log refused it, for about a second
    assert "second" in str(refused.value)
    assert 0.9 <= refused.value.retry_after <= 1.0 + MIN_WINDOW_MARGIN + 0.05


def test_batch_per_minute_counts_batch_calls_only(redis_db: redis.Redis, tenant: str) -> None:
    # Given a limit of 2 batch calls per window
    limits = Limits(per_minute=100, batch_per_minute=2, window=5)
    limiter = _limiter(redis_db, limits, tenant, max_wait=0)
    limiter.acquire(batch=True)
    limiter.acquire(batch=True)
    # When a third batch call and then a plain call are made
    with pytest.raises(RateLimited) as refused:
        limiter.acquire(batch=True)
    slot = limiter.acquire()
    # Then the batch call is refused and the plain call is not
    assert "batch_minute" in str(refused.value)
    assert slot


def test_per_day_limit(redis_db: redis.Redis, tenant: str) -> None:
    # Given a daily limit of 2
    limiter = _limiter(redis_db, Limits(per_day=2), tenant, max_wait=30)
    limiter.acquire()
    limiter.acquire()
    # When a third call is made
    with pytest.raises(RateLimited) as refused:
        limiter.acquire()
    # Then it is refused at once with a wait of about a day
    assert refused.value.retry_after > 86000


def test_other_tenants_are_not_affected(redis_db: redis.Redis, tenant: str) -> None:
    # Given tenant A's window is full
    limits = Limits(per_minute=1, window=10)
    _limiter(redis_db, limits, tenant, max_wait=0).acquire()
    # When tenant B calls
    other = RateLimiter(redis_db, system="xero", tenant=f"{tenant}-b", limits=limits, max_wait=0)
    # Then B has room, and A does not
    assert other.acquire()
    with pytest.raises(RateLimited):
        _limiter(redis_db, limits, tenant, max_wait=0).acquire()


def test_app_limit_is_shared_by_all_tenants(redis_db: redis.Redis, tenant: str) -> None:
    # Given an app-wide limit of 2 per window, used by tenants A and B
    limits = Limits(app_per_minute=2, window=10)
    for other in ("a", "b"):
        RateLimiter(redis_db, system="xero", tenant=f"{tenant}-{other}", limits=limits,
                    app_id=tenant, max_wait=0).acquire()
    # When tenant C calls
    third = RateLimiter(redis_db, system="xero", tenant=f"{tenant}-c", limits=limits,
                        app_id=tenant, max_wait=0)
    # Then it is refused by the app limit
    with pytest.raises(RateLimited) as refused:
        third.acquire()
    assert "app_minute" in str(refused.value)


def test_default_limits_follow_the_reference() -> None:
    # providers.md A5, B5, C5
    assert published_limits("xero") == Limits(
        per_minute=60, concurrent=5, per_day=5000, app_per_minute=10000
    )
    assert published_limits("quickbooks").per_minute == 500
    assert published_limits("quickbooks").per_second == 10
    assert published_limits("quickbooks").batch_per_minute == 40
    assert published_limits("sage").per_minute == 100
    assert published_limits("current_rms").per_minute is not None
