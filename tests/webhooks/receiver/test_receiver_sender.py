"""The webhook's messages leave from a sender thread after the commit (issue 18,
``workers/outbox_sender.py``): each arrives in Redis under the message id committed with its
event; many share a pipelined round trip; a broker that does not answer leaves the events
unsent in the database, for the relay, and never costs the delivery its 202."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

import dramatiq
import dramatiq.broker as dramatiq_broker
import pytest
import sqlalchemy

from tests.support import create_integration
from tests.webhooks.receiver.test_receiver_answers import QUEUE_LIST, QUEUE_MESSAGES, action, post
from workers import outbox_sender
from workers.broker import make_broker


@pytest.fixture
def integration(client: Any, admin: Any, sandbox: Any) -> dict[str, Any]:
    return create_integration(client, admin, sandbox, "xero")


@pytest.fixture
def broker_down() -> Iterator[None]:
    """Dramatiq's broker pointed at a closed port, as a web process whose Redis is gone."""
    before = dramatiq_broker.global_broker
    dramatiq.set_broker(make_broker("redis://127.0.0.1:9/0"))
    try:
        yield
    finally:
        if before is not None:
            dramatiq.set_broker(before)


def committed(rt: Any) -> dict[str, str | None]:
    with rt.db.engine.connect() as connection:
        rows = connection.execute(sqlalchemy.text("SELECT id, message_id FROM events")).all()
    return {row.id: row.message_id for row in rows}


def test_concurrent_deliveries_each_arrive_under_their_committed_message_id(
    client: Any, integration: Any, rt: Any, redis_client: Any,
) -> None:
    # When 40 deliveries arrive from 8 threads at once
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda n: post(client, integration, action(id=1000 + n, subject_id=n + 1)), range(40)))
    assert [a.status_code for a in answers] == [202] * 40
    assert outbox_sender.flush_all(5.0)
    # Then Redis holds exactly one sync_event message per event, under the id committed with it
    stored = committed(rt)
    assert len(stored) == 40 and None not in stored.values()
    assert redis_client.llen(QUEUE_LIST) == 40
    queued = {key.decode(): json.loads(value) for key, value in redis_client.hgetall(QUEUE_MESSAGES).items()}
    assert {message_id: message["args"] for message_id, message in queued.items()} == {
        message_id: [event_id] for event_id, message_id in stored.items()
    }
    assert {message["actor_name"] for message in queued.values()} == {"sync_event"}
    assert {message_id.decode() for message_id in redis_client.lrange(QUEUE_LIST, 0, -1)} == set(queued)


def test_broker_down_answers_202_and_leaves_the_event_unsent_for_the_relay(
    client: Any, integration: Any, rt: Any, broker_down: None,
) -> None:
    # When a delivery arrives while the broker does not answer
    response = post(client, integration, action(subject_id=77))
    # Then it is answered (it was committed), and once the sender has tried, the event is
    # marked unsent: the relay's next pass sends it, rather than waiting out the re-send bound
    assert response.status_code == 202
    assert outbox_sender.flush_all(10.0)
    with rt.db.engine.connect() as connection:
        row = connection.execute(sqlalchemy.text("SELECT status, sent_at, message_id FROM events")).one()
    assert (row.status, row.sent_at, row.message_id) == ("queued", None, None)


def test_a_redis_that_lost_its_scripts_still_gets_the_message(
    client: Any, integration: Any, rt: Any, redis_client: Any,
) -> None:
    # Given a delivery sent, then Redis's script cache emptied (as by a restart; the cache is
    # server-wide, and every redis-py script reloads itself on NOSCRIPT, so others are unharmed)
    assert post(client, integration, action(id=1, subject_id=1)).status_code == 202
    assert outbox_sender.flush_all(5.0)
    redis_client.script_flush()
    # When another delivery arrives
    assert post(client, integration, action(id=2, subject_id=2)).status_code == 202
    assert outbox_sender.flush_all(5.0)
    # Then its message is in the queue too, and the event is still recorded as sent
    assert redis_client.llen(QUEUE_LIST) == 2
    assert None not in committed(rt).values()
