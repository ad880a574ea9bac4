"""One refresh per expiry, across threads and processes; the rotated token is saved before use."""
from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Any

import pytest
import redis

from providers.oauth import OAuthTokens

from .conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    REDIS_URL,
    VAULT,
    RedisTokenStore,
    TokenEndpoint,
    token_set,
)


def _tokens(token_url: str, store: RedisTokenStore, namespace: str, **options: Any) -> OAuthTokens:
    refusals: list[str] = []
    return OAuthTokens(
        redis=redis.Redis.from_url(REDIS_URL), integration_id=namespace, system="xero",
        token_url=token_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
        client_auth="basic", load=store.load, save=options.pop("save", store.save),
        on_refused=refusals.append, vault=VAULT, **options,
    )


def _job(token_url: str, namespace: str, start_at: float) -> None:
    """One worker's job: wait for the common start, then ask for a token."""
    store = RedisTokenStore(namespace)
    tokens = _tokens(token_url, store, namespace)
    time.sleep(max(0.0, start_at - time.time()))
    store.redis.rpush(f"results:{namespace}", tokens.access_token())


def _jobs_in_a_process(token_url: str, namespace: str, start_at: float, threads: int) -> None:
    jobs = [
        threading.Thread(target=_job, args=(token_url, namespace, start_at))
        for _ in range(threads)
    ]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()


def test_twenty_threads_and_two_processes_refresh_an_expired_token_once(
    redis_db: redis.Redis, serve: Any, namespace: str
) -> None:
    # Given an expired token, and a token endpoint that takes 0.2 s to refresh
    endpoint = TokenEndpoint(delay=0.2)
    token_url = serve(endpoint)
    RedisTokenStore(namespace).put(token_set(expires_in=-60))
    start_at = time.time() + 0.5
    # When 20 threads here and 2 processes of 2 threads each ask for a token at the same moment
    fork = multiprocessing.get_context("fork")
    processes = [
        fork.Process(target=_jobs_in_a_process, args=(token_url, namespace, start_at, 2))
        for _ in range(2)
    ]
    for process in processes:
        process.start()
    _jobs_in_a_process(token_url, namespace, start_at, 20)
    for process in processes:
        process.join(timeout=30)
    # Then the endpoint saw exactly one refresh, and all 24 jobs use its token
    results = [v.decode() for v in redis_db.lrange(f"results:{namespace}", 0, -1)]
    assert [p.exitcode for p in processes] == [0, 0]
    assert len(endpoint.refresh_calls()) == 1
    assert results == ["access-1"] * 24
    assert RedisTokenStore(namespace).saved() == ["refresh-1"]


def test_a_token_expiring_within_a_minute_is_refreshed(
    redis_db: redis.Redis, serve: Any, namespace: str
) -> None:
    # Given a token with 30 s left
    endpoint = TokenEndpoint()
    store = RedisTokenStore(namespace)
    store.put(token_set(expires_in=30))
    # When a job asks for a token
    token = _tokens(serve(endpoint), store, namespace).access_token()
    # Then it was refreshed first
    assert token == "access-1"
    assert len(endpoint.refresh_calls()) == 1


def test_a_token_valid_for_longer_is_used_without_a_call(
    redis_db: redis.Redis, serve: Any, namespace: str
) -> None:
    # Given a token with 2 minutes left
    endpoint = TokenEndpoint()
    store = RedisTokenStore(namespace)
    store.put(token_set(expires_in=120))
    # When a job asks for a token twice
    tokens = _tokens(serve(endpoint), store, namespace)
    first, second = tokens.access_token(), tokens.access_token()
    # Then it is used as it is
    assert first == second == "access-0"
    assert endpoint.control.calls == []


def test_the_rotated_refresh_token_is_saved_before_the_access_token_is_returned(
    redis_db: redis.Redis, serve: Any, namespace: str
) -> None:
    # Given an expired token, a store whose save fails, and Xero's grace for a spent refresh token
    endpoint = TokenEndpoint(grace=60)
    token_url = serve(endpoint)
    store = RedisTokenStore(namespace)
    store.put(token_set())

    def failing_save(tokens: Any) -> None:
        raise OSError("database down")

    # When a job asks for a token
    with pytest.raises(OSError):
        _tokens(token_url, store, namespace, save=failing_save).access_token()
    # Then no token was handed out; and with a working store the fresh pair, kept in Redis
    # meanwhile, is saved by the time the access token is returned, with no second refresh
    assert _tokens(token_url, store, namespace).access_token() == "access-1"
    assert store.saved() == ["refresh-1"]
    assert store.load().access_token == "access-1"
    assert len(endpoint.refresh_calls()) == 1


def test_a_rejected_token_is_refreshed_once_for_all_who_saw_it(
    redis_db: redis.Redis, serve: Any, namespace: str
) -> None:
    # Given a token that looks valid but that the API rejected (401) for two jobs
    endpoint = TokenEndpoint()
    token_url = serve(endpoint)
    store = RedisTokenStore(namespace)
    store.put(token_set(expires_in=1200))
    first, second = _tokens(token_url, store, namespace), _tokens(token_url, store, namespace)
    rejected = first.access_token()
    assert second.access_token() == rejected
    # When both ask for a refresh after the rejection
    renewed_first = first.refresh_after_rejection(rejected)
    renewed_second = second.refresh_after_rejection(rejected)
    # Then one refresh happened, and both use its token
    assert renewed_first == renewed_second == "access-1"
    assert len(endpoint.refresh_calls()) == 1
