"""A real Redis on db 14 (``TEST_REDIS_URL``); each test works in keys of its own namespace."""
from __future__ import annotations

import os
import uuid
from typing import Iterator

import pytest
import redis

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


@pytest.fixture
def namespace() -> str:
    """A name of this test's own: its Redis keys carry it, so runs of the suite at the same
    time (a full-suite run beside a focused one) cannot disturb each other."""
    return uuid.uuid4().hex[:12]


@pytest.fixture
def redis_db(namespace: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as error:  # pragma: no cover - make test starts one
        pytest.fail(f"no Redis at {REDIS_URL}: run `make test`, which starts one ({error})")
    yield client
    for key in client.scan_iter(match=f"*{namespace}*"):
        client.delete(key)


@pytest.fixture
def tenant(namespace: str) -> str:
    return f"tenant-{namespace}"
