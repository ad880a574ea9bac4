"""The outbox: the database says what is owed, the relay makes sure the broker knows.

``send`` hands one event to the broker right after its commit; if the broker is down the event
simply stays unsent. ``relay_once`` (run every second by the scheduler) sends every owed event
that is due and unsent, takes back events whose worker died (lapsed lease), and re-sends every
owed event sent longer ago than ``RESEND_AFTER_SECONDS`` and still not claimed.

Why re-send by age alone, without asking the broker whether it still holds the message: the
broker cannot answer that truthfully. A message may sit in a live worker's ack set because the
reply to its fetch never reached the worker (a dropped connection, a socket timeout just after
Redis answered): the broker "holds" it for as long as that worker lives. It may be gone because
Redis restarted without persistence or was flushed. Or it may be waiting behind a backlog. Only
the database knows the event is still owed, and a repeat is harmless: only one ``claim``
succeeds. So the relay needs nothing from the broker but ``enqueue``, and works the same on
RabbitMQ (``BROKER_URL``), where a deleted queue or a restart without durable storage loses
messages just as a flushed Redis does.
The cost: an event waiting behind a backlog longer than the bound gets one more message per
bound, each of which finds the event claimed or done and does nothing.
"""
from __future__ import annotations

import structlog
from sqlalchemy.exc import SQLAlchemyError

from core.runtime import Runtime
from core.store import events
from core.tables import new_id
from workers import messages

log = structlog.get_logger(__name__)

#: An owed event sent longer ago than this and still not claimed is sent again. Below the
#: the interface's minute (§6: a message the broker lost is sent again within a minute), with room
#: for the relay's one-second tick and a worker's pick-up.
RESEND_AFTER_SECONDS = 30.0


def send(rt: Runtime, event_id: str) -> bool:
    """Hand the event's sync to the broker; ``False`` (and the event stays owed) when the broker
    is down, or when the event is not owed and unsent (another sender has it).

    The event is marked sent *before* the enqueue: marked after, the mark could land after a
    worker had already run the message and put the event back with ``retry_later``, and
    overwrite it, leaving the event to wait for the lost-message check (issue 13, finding 6)."""
    message_id = new_message_id()
    try:
        if not events.mark_sent(rt.db, event_id, message_id):
            return False
    except SQLAlchemyError:
        log.warning("could not record the send; the relay tries again", event_id=event_id)
        return False
    return send_prepared(rt, event_id, message_id)


def new_message_id() -> str:
    """The message id chosen before the event is committed: the broker's id for the message,
    on Redis (``OutboxRedisBroker``) and RabbitMQ (the Dramatiq message id) alike."""
    return new_id()


def send_prepared(rt: Runtime, event_id: str, message_id: str) -> bool:
    """Enqueue the event's sync under the message id already committed with it; when the broker
    (Redis or RabbitMQ) is down, take the id back so the relay sends the event as soon as it
    answers again."""
    try:
        messages.send(messages.SYNC_EVENT, event_id, message_id=message_id)
        return True
    except messages.BROKER_UNAVAILABLE as error:
        log.warning("broker unavailable; the relay will send the event", event_id=event_id,
                    error=type(error).__name__)
    try:
        events.mark_unsent(rt.db, [(event_id, message_id)])
    except SQLAlchemyError:
        pass  # the relay sends it again after RESEND_AFTER_SECONDS anyway
    return False


def relay_once(rt: Runtime) -> dict[str, int]:
    """One pass of the relay; returns what it did (for logs and tests)."""
    recovered = events.recover_lapsed(rt.db)
    stale = events.owed_sent_before(rt.db, older_than=RESEND_AFTER_SECONDS)
    requeued = events.mark_unsent(rt.db, stale)
    sent = 0
    for event in events.owed_unsent(rt.db):
        message_id = new_message_id()
        if not events.mark_sent(rt.db, event.id, message_id):
            continue  # claimed, or sent by someone else, since the query
        if not send_prepared(rt, event.id, message_id):
            break  # the broker is down: the rest waits for the next pass
        sent += 1
    if recovered or requeued or sent:
        log.info("relay pass", recovered=recovered, lost=requeued, sent=sent)
    return {"recovered": recovered, "lost": requeued, "sent": sent}
