"""The Dramatiq broker on Redis, set up before any actor is declared.

Retries are off at the broker: the database decides when an event runs again (``retry_later``
and the outbox relay), because Dramatiq's own retry, delay and dead-letter sets live only in
Redis and are lost with it (Bogdanp/dramatiq #360, PR #545, #431).
"""
from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

#: Live syncs and bulk work run on separate queues (DESIGN invariant).
SYNC_QUEUE = "sync"
BULK_QUEUE = "bulk"
NAMESPACE = "dramatiq"


def make_broker(url: str | None = None) -> RedisBroker:
    # Short socket timeouts: a webhook must not hang on an unreachable Redis; its event is
    # already committed and the relay sends it later.
    broker = RedisBroker(
        url=url or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), namespace=NAMESPACE,
        socket_connect_timeout=1, socket_timeout=5,
    )
    broker.declare_queue(SYNC_QUEUE)
    broker.declare_queue(BULK_QUEUE)
    return broker


broker = make_broker()
dramatiq.set_broker(broker)


def message_held(redis_client, queue: str, message_id: str) -> bool:
    """Whether the broker still holds the message (queued, prefetched or being processed):
    Dramatiq keeps each message in ``<ns>:<queue>.msgs`` until it is acknowledged."""
    return bool(redis_client.hexists(f"{NAMESPACE}:{queue}.msgs", message_id))
