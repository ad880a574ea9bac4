"""Queue statistics read from Dramatiq's Redis broker, for the ops page and ``/metrics``.

The Redis broker keeps, per queue (dramatiq/brokers/redis/dispatch.lua):
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

from workers.broker import BULK_QUEUE, NAMESPACE, SYNC_QUEUE

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


def all_stats(client: redis.Redis) -> list[QueueStats]:
    return [queue_stats(client, queue) for queue in QUEUES]
