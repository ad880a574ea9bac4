"""The Dramatiq broker on RabbitMQ (``BROKER_URL=amqp://…``); Redis keeps locks, limiters, caches.

Three things differ from Dramatiq's plain ``RabbitmqBroker``, each for a promise of the service:

- **The webhook's one commit.** The outbox records a message id with the event in the same
  commit (``workers.outbox``). On RabbitMQ nothing has to be chosen inside the broker for that:
  the id is the Dramatiq message's own ``message_id``, set before the enqueue
  (``workers.messages.message``), and it is also the AMQP message's ``message_id`` property,
  so what RabbitMQ shows names the send recorded with the event.
- **Publisher confirms.** ``enqueue`` returns only once RabbitMQ has taken the message (a
  persistent message on a durable queue: on disk). Without confirms a publish into a queue
  someone deleted vanishes without an error; with them the publish is refused as unroutable,
  and ``enqueue`` declares the queue again and publishes once more. The relay re-sends anything
  older anyway.
- **Short waits.** A webhook must never hang on an unreachable or blocked RabbitMQ: its event is
  committed and the relay sends it later. So connecting and a blocked publish time out within
  seconds, unless the URL's own query sets those parameters, and a send is tried twice, not
  six times (``enqueue``). One wait is not bounded here: a publish on a connection whose peer
  vanished without closing it waits for its confirm until the AMQP heartbeat notices (the
  server's, 60 s by default; ``?heartbeat=`` in the URL shortens it).

Worker bookkeeping: the ops workers view and the reliability suite read, in Redis, the heartbeat
set and the per-worker in-flight sets that Dramatiq's Redis broker keeps. RabbitMQ keeps neither,
so ``WorkerBookkeeping`` writes the same two records from each worker process: a heartbeat every
second, and the ids of the messages it is processing (on Redis the set also holds messages
fetched and not yet started; here it holds only those being processed). The broker also carries
the two attributes ``workers.worker_info`` reads on Dramatiq's Redis broker: ``client`` (Redis)
and ``broker_id``.
"""
from __future__ import annotations

import threading
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dramatiq
import pika
import pika.exceptions
import redis
import structlog
from dramatiq import Message
from dramatiq.broker import MessageProxy
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.common import dq_name, xq_name
from dramatiq.errors import ConnectionClosed

log = structlog.get_logger(__name__)

#: URL schemes that select this broker.
SCHEMES = ("amqp://", "amqps://")
#: Seconds to connect (TCP and the AMQP handshake) before a send gives up and leaves the event
#: to the relay; and seconds a publish may be held by a RabbitMQ resource alarm.
CONNECT_TIMEOUT_SECONDS = 2.0
BLOCKED_TIMEOUT_SECONDS = 5.0
#: How often each worker process writes its heartbeat (the view calls it dead after 5 s).
HEARTBEAT_INTERVAL_SECONDS = 1.0
#: A dead worker's heartbeat and in-flight set are kept this long, as its info record is
#: (``workers.worker_info.INFO_TTL_SECONDS``): no Redis broker maintenance removes them here.
BOOKKEEPING_TTL_SECONDS = 24 * 3600


def is_rabbitmq_url(url: str) -> bool:
    return url.startswith(SCHEMES)


class OutboxRabbitmqBroker(RabbitmqBroker):
    """Dramatiq's RabbitMQ broker with publisher confirms, short timeouts, and the Redis client
    and id its worker bookkeeping uses (module docstring)."""

    def __init__(self, url: str, *, client: redis.Redis) -> None:
        super().__init__(url=url, confirm_delivery=True)
        _shorten_waits(self.parameters, url)
        #: Redis, for worker bookkeeping only (the queues are on RabbitMQ).
        self.client = client
        self.broker_id = str(uuid.uuid4())

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        """Publish ``message`` (persistent, confirmed), trying twice at most: once on this
        thread's connection, once more on a new one when that failed (it had gone stale while
        idle, or RabbitMQ refused the message as unroutable because its queue was deleted, and
        the queue is declared again first). Dramatiq's own enqueue tries six times, each
        waiting up to its connect timeout: too long for a webhook whose event is already
        committed, and which the relay sends later anyway. Raises ``ConnectionClosed``.

        A delayed message goes through Dramatiq's enqueue (its delay queue); the service sends
        none (the database holds an event's next attempt)."""
        if delay is not None:
            return super().enqueue(message, delay=delay)
        queue = message.queue_name
        for attempt in range(2):
            try:
                self.declare_queue(queue, ensure=True)
                self.emit_before("enqueue", message, delay)
                self.channel.basic_publish(
                    exchange="", routing_key=queue, body=message.encode(),
                    # persistent; message_id names the send the outbox committed with the event
                    properties=pika.BasicProperties(delivery_mode=2, message_id=message.message_id),
                    mandatory=True,  # an unroutable message is refused, not dropped (confirms)
                )
                self.emit_after("enqueue", message, delay)
                return message
            except (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError) as error:
                del self.connection  # the next attempt, or the next caller, starts afresh
                if isinstance(error, pika.exceptions.UnroutableError):
                    self.queues_pending.add(queue)
                if attempt:
                    raise ConnectionClosed(error) from None  # type: ignore[no-untyped-call]  # dramatiq leaves it unannotated
        raise AssertionError("unreachable")

    def queue_counts(self, queue: str) -> tuple[int, int, int]:
        """Messages ready in ``queue``, its delay queue and its dead-letter queue, from
        RabbitMQ's own count (a passive ``queue.declare``: it creates nothing). A queue that does
        not exist counts 0: it is declared again by the next send or consumer. Raises
        ``pika.exceptions.AMQPError`` when RabbitMQ does not answer.

        Only *ready* messages are counted: those delivered to a consumer and not yet acked are
        in no count RabbitMQ gives here (as on Redis, where the depth is the waiting list)."""
        return (self._ready(queue), self._ready(dq_name(queue)), self._ready(xq_name(queue)))

    def _ready(self, name: str) -> int:
        for attempt in range(2):
            try:
                answer = self.channel.queue_declare(queue=name, passive=True)
                return int(answer.method.message_count)
            except pika.exceptions.ChannelClosedByBroker as error:
                del self.channel  # RabbitMQ closes the channel on a failed passive declare
                if error.reply_code == 404:
                    return 0
                raise
            except pika.exceptions.AMQPConnectionError:
                # This thread's connection went stale (RabbitMQ restarted, or closed it while it
                # sat idle): one retry on a new connection.
                del self.connection
                if attempt:
                    raise
        raise AssertionError("unreachable")


def _shorten_waits(parameters: Any, url: str) -> None:
    """Set the connect and blocked-publish timeouts the URL does not set itself."""
    given = set(parse_qs(urlsplit(url).query))
    for each in parameters if isinstance(parameters, list) else [parameters]:
        if "socket_timeout" not in given:
            each.socket_timeout = CONNECT_TIMEOUT_SECONDS
        if "stack_timeout" not in given:
            each.stack_timeout = CONNECT_TIMEOUT_SECONDS * 2
        if "blocked_connection_timeout" not in given:
            each.blocked_connection_timeout = BLOCKED_TIMEOUT_SECONDS
        if "connection_attempts" not in given:
            each.connection_attempts = 1


def make_rabbitmq_broker(url: str, *, redis_url: str, queues: tuple[str, ...],
                         namespace: str) -> OutboxRabbitmqBroker:
    """A RabbitMQ broker on ``url`` with ``queues`` declared (lazily: RabbitMQ sees them on the
    first send or consume), its worker bookkeeping in Redis at ``redis_url``."""
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=5)
    broker = OutboxRabbitmqBroker(url, client=client)
    for queue in queues:
        broker.declare_queue(queue)
    broker.add_middleware(WorkerBookkeeping(namespace))
    return broker


def heartbeats_key(namespace: str) -> str:
    """The sorted set of worker ids scored by their last heartbeat in ms (Dramatiq's Redis
    broker's own key and format)."""
    return f"{namespace}:__heartbeats__"


def in_flight_key(namespace: str, broker_id: str, queue: str) -> str:
    """The set of message ids a worker holds on ``queue`` (Dramatiq's Redis broker's ack set)."""
    return f"{namespace}:__acks__.{broker_id}.{queue}"


class WorkerBookkeeping(dramatiq.Middleware):
    """A worker process's heartbeat and in-flight messages, written to Redis (module docstring).
    Redis being down only leaves the view stale: a failed write is logged, never raised."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def _ours(broker: dramatiq.Broker) -> OutboxRabbitmqBroker:
        if not isinstance(broker, OutboxRabbitmqBroker):
            raise TypeError("WorkerBookkeeping belongs on an OutboxRabbitmqBroker")
        return broker

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        ours = self._ours(broker)
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, args=(ours,), name="heartbeat", daemon=True)
        self._thread.start()

    def _beat(self, broker: OutboxRabbitmqBroker) -> None:
        key = heartbeats_key(self.namespace)
        while True:
            now_ms = time.time() * 1000
            try:
                with broker.client.pipeline(transaction=False) as pipe:
                    pipe.zadd(key, {broker.broker_id: now_ms})
                    pipe.zremrangebyscore(key, 0, now_ms - BOOKKEEPING_TTL_SECONDS * 1000)
                    pipe.execute()
            except (redis.RedisError, OSError) as error:
                log.warning("worker heartbeat not written", error=type(error).__name__)
            if self._stop.wait(HEARTBEAT_INTERVAL_SECONDS):
                return

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        ours = self._ours(broker)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=HEARTBEAT_INTERVAL_SECONDS * 2)
        try:
            ours.client.zrem(heartbeats_key(self.namespace), ours.broker_id)
        except (redis.RedisError, OSError):
            pass  # the view shows it dead, and the entry goes after a day

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        ours = self._ours(broker)
        key = in_flight_key(self.namespace, ours.broker_id, message.queue_name)
        try:
            with ours.client.pipeline(transaction=False) as pipe:
                pipe.sadd(key, message.message_id)
                pipe.expire(key, BOOKKEEPING_TTL_SECONDS)
                pipe.execute()
        except (redis.RedisError, OSError) as error:
            log.warning("in-flight message not recorded", error=type(error).__name__)

    def after_process_message(self, broker: dramatiq.Broker, message: MessageProxy, *,
                              result: Any = None, exception: BaseException | None = None) -> None:
        ours = self._ours(broker)
        try:
            ours.client.srem(in_flight_key(self.namespace, ours.broker_id, message.queue_name),
                             message.message_id)
        except (redis.RedisError, OSError) as error:
            log.warning("in-flight message not cleared", error=type(error).__name__)

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self.after_process_message(broker, message)
