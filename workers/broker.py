"""The Dramatiq broker on Redis, set up before any actor is declared.

Retries are off at the broker: the database decides when an event runs again (``retry_later``
and the outbox relay), because Dramatiq's own retry, delay and dead-letter sets live only in
Redis and are lost with it (Bogdanp/dramatiq #360, PR #545, #431).
"""
from __future__ import annotations

import os
import time

import dramatiq
import redis
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker

#: Live syncs and bulk work run on separate queues (DESIGN invariant).
SYNC_QUEUE = "sync"
BULK_QUEUE = "bulk"
NAMESPACE = "dramatiq"


class OutboxRedisBroker(RedisBroker):
    """Dramatiq's Redis broker, except that a message may arrive with its Redis message id
    already chosen (``options["redis_message_id"]``): the webhook records that id with the
    event in the same commit, so it needs no second write to say the event was sent."""

    def enqueue(self, message: Message, *, delay: int | None = None) -> Message:
        if delay is not None or "redis_message_id" not in message.options:
            return super().enqueue(message, delay=delay)
        self.emit_before("enqueue", message, delay)
        self.do_enqueue(message.queue_name, message.options["redis_message_id"], message.encode())
        self.emit_after("enqueue", message, delay)
        return message


def make_broker(url: str | None = None) -> RedisBroker:
    # Short socket timeouts: a webhook must not hang on an unreachable Redis; its event is
    # already committed and the relay sends it later.
    # (RedisBroker drops socket options given beside a URL, so the client is built here.)
    client = redis.Redis.from_url(
        url or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        socket_connect_timeout=1, socket_timeout=5,
    )
    broker = OutboxRedisBroker(client=client, namespace=NAMESPACE)
    broker.declare_queue(SYNC_QUEUE)
    broker.declare_queue(BULK_QUEUE)
    return broker


broker = make_broker()
dramatiq.set_broker(broker)


#: A worker process whose last heartbeat is older than this is taken for dead. A live one
#: heartbeats on every fetch of any of its consumers (dramatiq's dispatch.lua), about once a
#: second while even one of its queues is idle (its delay queues always are).
DEAD_WORKER_SECONDS = 15.0


def message_held(redis_client, queue: str, message_id: str) -> bool:
    """Whether the broker still holds the message for a live worker: Dramatiq keeps each
    message in ``<ns>:<queue>.msgs`` until it is acknowledged, but one fetched by a worker that
    was killed stays in that worker's ack set until a maintenance pass requeues it, which runs
    on 1 dispatch in 1,000 and only 60 s after the death: possibly many minutes later. Such a
    message counts as lost (a repeat is harmless: only one ``claim`` succeeds)."""
    if not redis_client.hexists(f"{NAMESPACE}:{queue}.msgs", message_id):
        return False
    return not any(
        redis_client.sismember(f"{NAMESPACE}:__acks__.{worker.decode()}.{queue}", message_id)
        for worker in dead_workers(redis_client)
    )


def dead_workers(redis_client) -> list[bytes]:
    """Ids of worker processes whose heartbeat is older than ``DEAD_WORKER_SECONDS``."""
    stale_ms = (time.time() - DEAD_WORKER_SECONDS) * 1000
    return redis_client.zrangebyscore(f"{NAMESPACE}:__heartbeats__", 0, stale_ms)
