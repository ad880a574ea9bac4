"""The outbox: the database says what is owed, the relay makes sure the broker knows.

``send`` hands one event to the broker right after its commit; if Redis is down the event
simply stays unsent. ``relay_once`` (run every second by the scheduler) sends every owed event
that is due and unsent, takes back events whose worker died (lapsed lease), and re-sends
events whose message the broker no longer holds (Redis restarted without persistence, or
flushed). Repeated messages are harmless: only one ``claim`` of an event can succeed.
"""
from __future__ import annotations

import uuid

import redis
from sqlalchemy.exc import SQLAlchemyError
import structlog

from core.runtime import Runtime
from core.store import events
from workers.broker import SYNC_QUEUE, message_held

log = structlog.get_logger(__name__)

#: An owed event sent longer ago than this is checked against the broker.
LOST_AFTER_SECONDS = 20.0


def send(rt: Runtime, event_id: str) -> bool:
    """Enqueue the event's sync; ``False`` (and the event stays owed) when Redis is down."""
    from workers.actors import sync_event

    try:
        message = sync_event.send(event_id)
    except (redis.RedisError, OSError) as error:
        log.warning("broker unavailable; the relay will send the event", event_id=event_id,
                    error=type(error).__name__)
        return False
    try:
        events.mark_sent(rt.db, event_id, message.options.get("redis_message_id"))
    except SQLAlchemyError:
        # The message is out; without the bookkeeping the relay may send it once more later,
        # which the event's claim makes harmless.
        log.warning("could not record the send", event_id=event_id)
    return True


def new_message_id() -> str:
    """A Redis message id chosen before the event is committed (``OutboxRedisBroker``)."""
    return uuid.uuid4().hex


def send_prepared(rt: Runtime, event_id: str, message_id: str) -> bool:
    """Enqueue the event's sync under the message id already committed with it; when Redis is
    down, take the id back so the relay sends the event as soon as Redis answers again."""
    from workers.actors import sync_event

    message = sync_event.message(event_id).copy(options={"redis_message_id": message_id})
    try:
        sync_event.broker.enqueue(message)
        return True
    except (redis.RedisError, OSError) as error:
        log.warning("broker unavailable; the relay will send the event", event_id=event_id,
                    error=type(error).__name__)
    try:
        events.mark_unsent(rt.db, [(event_id, message_id)])
    except SQLAlchemyError:
        pass  # the relay finds the message missing after LOST_AFTER_SECONDS anyway
    return False


def relay_once(rt: Runtime) -> dict[str, int]:
    """One pass of the relay; returns what it did (for logs and tests)."""
    recovered = events.recover_lapsed(rt.db)
    lost = [
        (event_id, message_id)
        for event_id, message_id in events.owed_sent_before(rt.db, older_than=LOST_AFTER_SECONDS)
        if not message_id or not message_held(rt.redis, SYNC_QUEUE, message_id)
    ]
    requeued = events.mark_unsent(rt.db, lost)
    sent = 0
    for event in events.owed_unsent(rt.db):
        if not send(rt, event.id):
            break
        sent += 1
    if recovered or requeued or sent:
        log.info("relay pass", recovered=recovered, lost=requeued, sent=sent)
    return {"recovered": recovered, "lost": requeued, "sent": sent}
