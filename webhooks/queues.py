"""Queue statistics from the broker's own records, for the ops page, ``/metrics`` and alerts.

On RabbitMQ (``BROKER_URL=amqp://…``) they are RabbitMQ's own counts of ready messages
(``OutboxRabbitmqBroker.queue_counts``): waiting, delayed and dead-lettered. RabbitMQ tells no
message's age without taking it off the queue, so the oldest message's age is unknown there
(``None``), and the stalled-queue alert, which needs it, does not fire on RabbitMQ. Nor does it
count the delayed messages a worker has already taken to hold until their time (the ops page
adds the events the database says are waiting, ``webhooks.ops.waiting``).

On Redis, the broker keeps, per queue (dramatiq/brokers/redis/dispatch.lua):
``<ns>:<queue>`` a list of waiting message ids (``rpush`` to enqueue, ``lpop`` to fetch, so the
head is the oldest); ``<ns>:<queue>.msgs`` a hash id -> encoded message (kept until acked);
``<ns>:<queue>.DQ`` and ``.DQ.msgs`` the same for delayed messages (a worker prefetches them
and holds them until their eta, so the hash, not the list, counts them); ``<ns>:<queue>.XQ`` a
sorted set of dead-lettered ids.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

import redis
from dramatiq.brokers.redis import RedisBroker

from core.runtime import Runtime
from workers import messages
from workers.broker import BULK_QUEUE, NAMESPACE, SYNC_QUEUE
from workers.broker_rabbitmq import OutboxRabbitmqBroker

QUEUES = (SYNC_QUEUE, BULK_QUEUE)


@dataclass(frozen=True)
class QueueStats:
    name: str
    depth: int
    delayed: int
    dead: int
    #: Seconds since the oldest waiting message was enqueued; ``None`` when none waits.
    oldest_age_seconds: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def queue_stats(client: redis.Redis, queue: str, *, now: float | None = None) -> QueueStats:
    """One queue's figures; raises ``redis.RedisError`` when Redis does not answer."""
    key = f"{NAMESPACE}:{queue}"
    with client.pipeline(transaction=False) as pipe:
        pipe.llen(key)
        pipe.hlen(f"{key}.DQ.msgs")
        pipe.zcard(f"{key}.XQ")
        pipe.lindex(key, 0)
        depth, delayed, dead, head = pipe.execute()
    return QueueStats(queue, int(depth), int(delayed), int(dead),
                      _age(client, key, head, time.time() if now is None else now))


def _age(client: redis.Redis, key: str, head: bytes | None, now: float) -> float | None:
    if head is None:
        return None
    raw = client.hget(f"{key}.msgs", head)
    if raw is None:  # fetched between the two reads
        return None
    try:
        stamp_ms: float = json.loads(raw)["message_timestamp"]
    except (ValueError, KeyError, TypeError):
        return None
    return max(0.0, now - stamp_ms / 1000.0)


class QueuesUnknown(Exception):
    """The broker did not answer; the message names it, for the ops page."""


def all_stats(rt: Runtime) -> list[QueueStats]:
    """Each queue's figures from the process's broker; raises ``QueuesUnknown`` when it does not
    answer."""
    # Without BROKER_URL the queues are in REDIS_URL's Redis, read through the runtime's own
    # client: no process-wide broker is needed (nor built from the environment) to count them.
    client = rt.redis
    if rt.settings.broker_url:
        broker = messages.current_broker()
        if isinstance(broker, OutboxRabbitmqBroker):
            try:
                return [rabbitmq_queue_stats(broker, queue) for queue in QUEUES]
            except messages.BROKER_UNAVAILABLE as error:
                raise QueuesUnknown(
                    f"RabbitMQ is not answering ({type(error).__name__}): queues unknown") from error
        if isinstance(broker, RedisBroker):  # BROKER_URL names another Redis
            client = broker.client
    try:
        return [queue_stats(client, queue) for queue in QUEUES]
    except (redis.RedisError, OSError) as error:
        raise QueuesUnknown(f"Redis is not answering ({type(error).__name__}): queues unknown") from error


def rabbitmq_queue_stats(broker: OutboxRabbitmqBroker, queue: str) -> QueueStats:
    """One queue's figures from RabbitMQ's counts (module docstring: no age)."""
    depth, delayed, dead = broker.queue_counts(queue)
    return QueueStats(queue, depth, delayed, dead, None)
