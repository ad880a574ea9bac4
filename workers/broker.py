"""The Dramatiq broker, set up before any actor is declared: on Redis (``REDIS_URL``), or on
RabbitMQ where ``BROKER_URL`` is an ``amqp://`` URL (``workers.broker_rabbitmq``).

Retries are off at the broker: the database decides when an event runs again (``retry_later``
and the outbox relay), because Dramatiq's own retry, delay and dead-letter sets live only in
Redis and are lost with it (Bogdanp/dramatiq #360, PR #545, #431).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dramatiq
import redis
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker

from core.runtime import runtime
from core.settings import Settings
from workers.broker_rabbitmq import OutboxRabbitmqBroker, is_rabbitmq_url, make_rabbitmq_broker

#: Live syncs and bulk work run on separate queues (docs/architecture.md, invariants).
SYNC_QUEUE = "sync"
BULK_QUEUE = "bulk"
#: Alerts go out on a queue of their own: a slow receiver never holds a sync back.
ALERTS_QUEUE = "alerts"
NAMESPACE = "dramatiq"


class OutboxRedisBroker(RedisBroker):
    """Dramatiq's Redis broker, except that a message may arrive with its Redis message id
    already chosen (``options["redis_message_id"]``): the webhook records that id with the
    event in the same commit, so it needs no second write to say the event was sent."""

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        if delay is not None or "redis_message_id" not in message.options:
            return super().enqueue(message, delay=delay)
        self.emit_before("enqueue", message, delay)
        self.do_enqueue(message.queue_name, message.options["redis_message_id"], message.encode())
        self.emit_after("enqueue", message, delay)
        return message

    def enqueue_prepared(self, messages: Sequence[Message[Any]]) -> None:
        """Enqueue messages whose Redis ids are already chosen, in one round trip.

        Each message is stored where Dramatiq's ``enqueue`` stores it: its data in the queue's
        hash (``<namespace>:<queue>.msgs``), its id pushed on the queue's list
        (``<namespace>:<queue>``), the two steps of the ``enqueue`` command of Dramatiq's
        ``dispatch.lua`` (pinned in requirements.txt; ``tests/workers/broker/test_broker_batch.py``
        compares the two). One ``HSET`` and one ``RPUSH`` per queue carry the whole batch, in
        that order on one connection, so no id is ever listed before its data. Not a
        transaction: a failure may leave some sent and some not, which the caller treats as all
        lost (sending one again is harmless: only one claim of an event succeeds).

        What the script does besides, a heartbeat for the sender and an occasional maintenance
        pass, is worker bookkeeping that the workers do on every fetch; a web process fetches
        nothing. Issue 18 measured one ``EVALSHA`` per message at a sixth of a webhook's CPU."""
        if not messages:
            return
        for message in messages:
            self.emit_before("enqueue", message, None)
        by_queue: dict[str, dict[str, bytes]] = {}
        for message in messages:
            by_queue.setdefault(message.queue_name, {})[message.options["redis_message_id"]] = message.encode()
        with self.client.pipeline(transaction=False) as pipeline:
            for queue_name, stored in by_queue.items():
                queue_key = f"{self.namespace}:{queue_name}"
                pipeline.hset(f"{queue_key}.msgs", mapping=stored)  # type: ignore[arg-type]  # bytes values
                pipeline.rpush(queue_key, *stored)
            pipeline.execute()
        for message in messages:
            self.emit_after("enqueue", message, None)


#: A worker process whose Dramatiq heartbeat is older than this is taken for dead, and the
#: messages it had fetched but not acknowledged go back to their queue at the next maintenance
#: pass of any live worker (Dramatiq's default: 60 s). A live process heartbeats on every fetch
#: of any of its consumers, about every ``dramatiq_worker_timeout`` (100 ms, Procfile) while even
#: one of its queues is idle (its delay queues always are), so 5 s is a wide margin; a live
#: worker taken for dead only sees its messages delivered twice, and a repeat finds nothing to do.
HEARTBEAT_TIMEOUT_MS = 5_000
#: Fetches, out of 1,000,000, that also run that maintenance pass (Dramatiq's default: 1,000).
#: An idle consumer fetches about ten times a second, so on each queue a pass runs about every
#: second; it costs a look at the heartbeat set when nobody died (issue 13, finding 8).
MAINTENANCE_CHANCE = 100_000
#: The ops workers view calls a worker dead exactly when Dramatiq's maintenance does (its
#: fetched messages are then about to go back to their queue).
DEAD_WORKER_SECONDS = HEARTBEAT_TIMEOUT_MS / 1000


#: Either broker: the queues on Redis, or on RabbitMQ.
AnyBroker = OutboxRedisBroker | OutboxRabbitmqBroker


def make_broker(url: str, *, redis_url: str | None = None) -> AnyBroker:
    """A broker on ``url`` with its queues declared (no global state is touched): RabbitMQ for
    an ``amqp(s)://`` URL, whose worker bookkeeping goes to ``redis_url`` (default: the
    process's ``REDIS_URL``), else Redis."""
    if is_rabbitmq_url(url):
        return make_rabbitmq_broker(url, redis_url=redis_url or runtime().settings.redis_url,
                                    queues=(SYNC_QUEUE, BULK_QUEUE, ALERTS_QUEUE), namespace=NAMESPACE)
    return make_redis_broker(url)


def make_redis_broker(url: str) -> OutboxRedisBroker:
    """A Redis broker on ``url`` with its queues declared."""
    # Short socket timeouts: a webhook must not hang on an unreachable Redis; its event is
    # already committed and the relay sends it later.
    # (RedisBroker drops socket options given beside a URL, so the client is built here.)
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)
    broker = OutboxRedisBroker(  # type: ignore[no-untyped-call]  # dramatiq's RedisBroker.__init__ is unannotated
        client=client, namespace=NAMESPACE, heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
        maintenance_chance=MAINTENANCE_CHANCE,
    )
    broker.declare_queue(SYNC_QUEUE)
    broker.declare_queue(BULK_QUEUE)
    broker.declare_queue(ALERTS_QUEUE)
    return broker


#: The process's broker: declared, not assigned, so that the first ``workers.broker.broker``
#: goes through ``__getattr__`` below and ``init`` assigns it.
broker: AnyBroker


def init(settings: Settings) -> AnyBroker:
    """Build the process's broker from ``settings`` (``BROKER_URL``, else ``REDIS_URL``) and make
    it Dramatiq's. Called explicitly by whoever first needs it (``workers.actors`` through
    ``broker``), never at import time."""
    global broker
    broker = make_broker(settings.broker_url or settings.redis_url, redis_url=settings.redis_url)
    dramatiq.set_broker(broker)
    return broker


def __getattr__(name: str) -> AnyBroker:
    # ``from workers.broker import broker`` before any ``init``: build it from the process's
    # settings (``core.runtime``), which a test or an entry point has installed or which come
    # from the environment, once, when first asked for.
    if name == "broker":
        return init(runtime().settings)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
