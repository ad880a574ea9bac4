"""The web process's batch hand-off stores each message exactly where, and as, Dramatiq's own
``enqueue`` (its ``dispatch.lua`` script) does, so a Dramatiq worker takes it like any other."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
from dramatiq import Worker

from tests.conftest import TEST_REDIS_URL
from workers import messages
from workers.broker import NAMESPACE, SYNC_QUEUE, OutboxRedisBroker, make_redis_broker


@pytest.fixture
def broker(redis_client: Any) -> Iterator[OutboxRedisBroker]:
    redis_client.flushdb()
    built = make_redis_broker(TEST_REDIS_URL)
    yield built
    built.close()
    redis_client.flushdb()


def _queue_state(redis_client: Any) -> tuple[list[bytes], dict[bytes, bytes]]:
    key = f"{NAMESPACE}:{SYNC_QUEUE}"
    return redis_client.lrange(key, 0, -1), redis_client.hgetall(f"{key}.msgs")


def _prepared(count: int) -> list[Any]:
    return [messages.message(messages.SYNC_EVENT, f"event-{i}", message_id=f"message-{i}") for i in range(count)]


def test_a_batch_is_stored_as_dramatiqs_own_enqueue_stores_each_message(broker: OutboxRedisBroker, redis_client: Any) -> None:
    # Given the same three messages sent one by one through Dramatiq's script...
    prepared = _prepared(3)
    for message in prepared:
        broker.enqueue(message)
    by_script = _queue_state(redis_client)
    redis_client.delete(f"{NAMESPACE}:{SYNC_QUEUE}", f"{NAMESPACE}:{SYNC_QUEUE}.msgs")
    # ...and as one batch
    broker.enqueue_prepared(prepared)
    # Then the queue's list and hash are the same, in the same order
    assert _queue_state(redis_client) == by_script
    assert by_script[0] == [b"message-0", b"message-1", b"message-2"]


def test_a_dramatiq_worker_runs_every_message_of_a_batch(broker: OutboxRedisBroker) -> None:
    seen: list[str] = []

    @dramatiq.actor(broker=broker, actor_name=messages.SYNC_EVENT, queue_name=SYNC_QUEUE, max_retries=0)
    def sync_event(event_id: str) -> None:
        seen.append(event_id)

    broker.enqueue_prepared(_prepared(5))
    worker = Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        broker.join(SYNC_QUEUE, timeout=10_000)
        worker.join()
    finally:
        worker.stop()
    assert sorted(seen) == [f"event-{i}" for i in range(5)]
