"""A real Redis on db 14 (``TEST_REDIS_URL``), flushed around each test of this suite."""
from __future__ import annotations

import os
from typing import Iterator

import pytest
import redis

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


@pytest.fixture
def redis_db() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as error:  # pragma: no cover - make test starts one
        pytest.fail(f"no Redis at {REDIS_URL}: run `make test`, which starts one ({error})")
    client.flushdb()
    yield client
    client.flushdb()
