"""Send work to the actors by name, without importing them.

The outbox, the bulk jobs, the scheduler and the web app only need to put a message on a
queue; importing ``workers.actors`` for that would load the whole worker (and its start-up
checks) into them. Dramatiq routes a message by its actor name and queue alone, so this module
builds the message itself and enqueues it on the current broker (``dramatiq.get_broker()``:
``workers.broker`` sets it; a test may swap it).
"""
from __future__ import annotations

from typing import Any

import dramatiq
import dramatiq.broker as dramatiq_broker
import dramatiq.errors
import pika.exceptions
import redis
from dramatiq import Message

from workers import broker as our_broker
from workers.broker import ALERTS_QUEUE, BULK_QUEUE, SYNC_QUEUE

#: The actor names (``workers.actors`` declares them under these names).
SYNC_EVENT = "sync_event"
RECONCILE_INTEGRATION = "reconcile_integration"
RUN_JOB = "run_job"
DELIVER_ALERTS = "deliver_alerts"
LEDGER_POLL = "ledger_poll"

#: Each actor's queue: live work and bulk work never share one (docs/architecture.md, "Invariants").
QUEUES = {SYNC_EVENT: SYNC_QUEUE, RECONCILE_INTEGRATION: SYNC_QUEUE, RUN_JOB: BULK_QUEUE,
          DELIVER_ALERTS: ALERTS_QUEUE, LEDGER_POLL: BULK_QUEUE}


#: What ``send`` raises when the broker cannot take the message: Redis's errors, RabbitMQ's
#: (pika's, and Dramatiq's ``ConnectionClosed`` after its own retries), or a socket's.
BROKER_UNAVAILABLE: tuple[type[Exception], ...] = (
    redis.RedisError, pika.exceptions.AMQPError, dramatiq.errors.BrokerConnectionError, OSError,
)


def message(actor_name: str, *args: Any, message_id: str | None = None) -> Message[Any]:
    """The message for ``actor_name``. ``message_id``, chosen before the event's commit, is the
    id the broker knows it by: the Dramatiq message id (RabbitMQ) and the Redis message id
    (``OutboxRedisBroker``)."""
    if not message_id:
        return Message(queue_name=QUEUES[actor_name], actor_name=actor_name, args=args, kwargs={},
                       options={})
    return Message(queue_name=QUEUES[actor_name], actor_name=actor_name, args=args, kwargs={},
                   options={"redis_message_id": message_id}, message_id=message_id)


def send(actor_name: str, *args: Any, message_id: str | None = None) -> Message[Any]:
    """Enqueue; raises one of ``BROKER_UNAVAILABLE`` when the broker is unreachable."""
    return current_broker().enqueue(message(actor_name, *args, message_id=message_id))


def current_broker() -> dramatiq.Broker:
    """Dramatiq's current broker, or this process's own (``workers.broker``) when none is set
    yet: Dramatiq's default would be a plain broker on another Redis database, which ignores
    the message id committed with an event (and ``BROKER_URL``)."""
    if dramatiq_broker.global_broker is None:
        return our_broker.broker
    return dramatiq.get_broker()
