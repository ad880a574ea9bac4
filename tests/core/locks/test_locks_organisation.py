"""The per-organisation lock: mutual exclusion, expiry, fencing tokens."""
from __future__ import annotations

import threading
import time

import pytest
import redis

from core.errors import LockBusy, LockLost
from core.locks import OrganisationLock

from .conftest import REDIS_URL


def _lock(
    client: redis.Redis, integration_id: str, *, organisation_id: int = 205100, ttl: float = 5.0
) -> OrganisationLock:
    return OrganisationLock(
        client, integration_id=integration_id, organisation_id=organisation_id, ttl=ttl
    )


def test_only_one_thread_at_a_time_holds_the_lock(redis_db: redis.Redis, namespace: str) -> None:
    # Given 8 threads that each keep trying to sync the same organisation for half a second
    inside, most_inside, tokens = [0], [0], []
    guard = threading.Lock()

    def worker() -> None:
        lock = _lock(redis.Redis.from_url(REDIS_URL), namespace)
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            if not lock.acquire():
                continue
            with guard:
                inside[0] += 1
                most_inside[0] = max(most_inside[0], inside[0])
                tokens.append(lock.token)
            time.sleep(0.005)
            with guard:
                inside[0] -= 1
            lock.release()

    # When they run together
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then never two held it at once, it changed hands, and each holder had a new, higher token
    assert most_inside[0] == 1
    assert len(tokens) > 8
    assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens)


def test_expiry_lets_another_in_and_fences_out_the_stalled_holder(
    redis_db: redis.Redis, namespace: str
) -> None:
    # Given a holder that stalls past its 0.2 s TTL
    stalled = _lock(redis_db, namespace, ttl=0.2)
    assert stalled.acquire()
    time.sleep(0.3)
    # When another worker takes the lock
    newer = _lock(redis_db, namespace)
    assert newer.acquire()
    # Then it has a higher token, and the stalled holder's check stops it before a write
    assert newer.token > stalled.token
    with pytest.raises(LockLost):
        stalled.check()
    newer.check()


def test_release_by_a_non_owner_is_a_no_op(redis_db: redis.Redis, namespace: str) -> None:
    # Given a stalled holder whose lock expired and was taken by another
    stalled = _lock(redis_db, namespace, ttl=0.1)
    assert stalled.acquire()
    time.sleep(0.2)
    newer = _lock(redis_db, namespace)
    assert newer.acquire()
    # When the stalled holder releases
    stalled.release()
    # Then the new holder still has the lock and nobody else can take it
    newer.check()
    assert not _lock(redis_db, namespace).acquire()


def test_a_busy_lock_refuses_and_the_context_manager_raises_lock_busy(
    redis_db: redis.Redis, namespace: str
) -> None:
    # Given the lock is held
    with _lock(redis_db, namespace):
        # When another worker asks
        second = _lock(redis_db, namespace)
        # Then it is refused, and the context manager raises LockBusy
        assert not second.acquire()
        with pytest.raises(LockBusy):
            with second:
                pass  # pragma: no cover - never entered
    # And once released it can be taken
    assert second.acquire()


def test_check_and_extend_keep_a_progressing_holder_s_lock(
    redis_db: redis.Redis, namespace: str
) -> None:
    # Given a holder with a 0.3 s TTL that checks every 0.1 s for 0.6 s
    holder = _lock(redis_db, namespace, ttl=0.3)
    assert holder.acquire()
    for step in range(6):
        time.sleep(0.1)
        if step % 2:
            holder.check()
        else:
            holder.extend()
    # Then it still holds the lock, well past its first TTL
    assert not _lock(redis_db, namespace).acquire()
    holder.check()


def test_extend_of_a_lost_lock_raises(redis_db: redis.Redis, namespace: str) -> None:
    # Given a lock that expired
    lock = _lock(redis_db, namespace, ttl=0.1)
    assert lock.acquire()
    time.sleep(0.2)
    # Then extending it raises LockLost rather than reviving it
    with pytest.raises(LockLost):
        lock.extend()
    assert redis_db.exists(lock.key) == 0


def test_other_organisations_are_independent(redis_db: redis.Redis, namespace: str) -> None:
    with _lock(redis_db, namespace, organisation_id=1):
        assert _lock(redis_db, namespace, organisation_id=2).acquire()
