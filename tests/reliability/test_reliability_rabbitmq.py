"""RabbitMQ faults (``BROKER_URL=amqp://…``): the broker going away while syncs run and webhooks
arrive, and a queue deleted while events wait in it; and the ops workers view, which on RabbitMQ
reads the heartbeats the workers write to Redis themselves (``workers.broker_rabbitmq``).

What they show is the same promise as on Redis (``test_reliability_redis.py``): the database,
not the broker, records what is owed, so a webhook is answered once its event is committed and
the outbox relay hands RabbitMQ whatever it lost. On RabbitMQ these faults are caused in the
server itself, in this run's private vhost (``rabbitmq_server.py``): ``rabbitmqctl
close_all_connections`` drops every client connection, as a restart does to them, and
``clear_permissions`` keeps new ones out until ``set_permissions`` lets them in again, as a
server that is down or still starting does. (A real restart of the machine's RabbitMQ would
stop every other user's queues; ``test_rabbitmq_restarted`` below does it where CI owns the
machine.)
"""
from __future__ import annotations

import os
import time
from typing import Any, Iterator
from urllib.parse import urlsplit

import pika.exceptions
import pytest

from tests.reliability.conftest import wait_until
from tests.reliability.rabbitmq_server import RabbitmqServer, ctl
from tests.reliability.reliability_helpers import (
    all_in,
    contact_names,
    fetch_times,
    inject,
    new_organisation,
    statuses,
)
from tests.support import create_integration, send_webhook
from webhooks import queues
from webhooks.ops.workers_view import worker_rows
from workers import messages, outbox_sender
from workers.broker import DEAD_WORKER_SECONDS, SYNC_QUEUE

#: The interface's bound (§6): a message the broker lost is sent again within a minute.
MINUTE = 60.0
#: Seconds the stand-in holds the fetches the fault catches in flight.
HELD_CALL_SECONDS = 1.5


@pytest.fixture
def broker_kind() -> str:
    return "rabbitmq"


@pytest.fixture
def server(rabbitmq: RabbitmqServer, rt: Any) -> RabbitmqServer:
    return rabbitmq


@pytest.fixture
def shut_out(server: RabbitmqServer) -> Iterator[Any]:
    """``shut_out()`` closes every connection of the vhost and refuses new ones;
    ``shut_out.let_in()`` lets them in again (done at the end of the test in any case)."""
    if server.vhost is None:
        pytest.skip("SKIPPED LOUDLY: shutting clients out of RabbitMQ needs rabbitmqctl, not usable here")
    user = urlsplit(server.url).username or "guest"

    class ShutOut:
        def __call__(self) -> None:
            done = ctl("clear_permissions", "-p", str(server.vhost), user)
            assert done.returncode == 0, done.stderr
            server.close_all_connections()

        def let_in(self) -> None:
            done = ctl("set_permissions", "-p", str(server.vhost), user, ".*", ".*", ".*")
            assert done.returncode == 0, done.stderr

    control = ShutOut()
    yield control
    control.let_in()


def test_rabbitmq_dropping_every_connection_mid_sync_and_refusing_webhooks_loses_nothing(
    client: Any, admin: Any, sandbox: Any, rt: Any, worker_pool: Any, relay: Any, shut_out: Any,
) -> None:
    # Given a worker syncing four creates, two of its fetches held in flight
    integration = create_integration(client, admin, sandbox, "xero")
    members = [new_organisation(sandbox, integration["subdomain"]) for _ in range(8)]
    inject(sandbox, "current_rms", mode="delay", delay=HELD_CALL_SECONDS, method="GET", path="/members", times=2)
    worker_pool.start()
    first = [send_webhook(client, integration, m["id"], "create").get_json()["event_id"] for m in members[:4]]
    wait_until(lambda: len(fetch_times(sandbox)) >= 1, timeout=20, interval=0.02, what="a held fetch")

    # When RabbitMQ drops every connection (the worker's consumers, this process's publisher)
    # and refuses new ones, and four more creates arrive meanwhile
    shut_out()
    answers = [send_webhook(client, integration, m["id"], "create") for m in members[4:]]

    # Then each is answered 202 and stays owed, and the ops figures say RabbitMQ is not answering
    assert [a.status_code for a in answers] == [202] * 4, [a.get_json() for a in answers]
    second = [a.get_json()["event_id"] for a in answers]
    assert set(statuses(rt, second).values()) == {"queued"}
    with pytest.raises(queues.QueuesUnknown, match="RabbitMQ is not answering"):
        queues.all_stats(rt)

    # When RabbitMQ lets clients in again
    shut_out.let_in()
    back = time.monotonic()

    # Then every event, those in flight at the drop too, succeeds within a minute, one contact each
    wait_until(lambda: all_in(rt, first + second, "succeeded"), timeout=MINUTE, what="events succeeded")
    assert time.monotonic() - back < MINUTE
    names = contact_names(sandbox, "xero", integration["tenant"])
    assert [names[m["name"]] for m in members] == [1] * 8, names


def test_rabbitmq_queue_deleted_with_events_waiting_strands_none(
    client: Any, admin: Any, sandbox: Any, rt: Any, server: RabbitmqServer, worker_pool: Any, relay: Any,
) -> None:
    # Given six events sent while no worker consumes: they wait in RabbitMQ's sync queue, and
    # the ops figures (RabbitMQ's own count) show them
    integration = create_integration(client, admin, sandbox, "xero")
    members = [new_organisation(sandbox, integration["subdomain"]) for _ in range(6)]
    relay.paused.set()  # nothing re-sent while the queue is looked at
    event_ids = [send_webhook(client, integration, m["id"], "create").get_json()["event_id"] for m in members]
    assert outbox_sender.flush_all(10.0)  # the webhooks' messages leave from a sender thread
    assert server.ready(SYNC_QUEUE) == 6
    sync = next(q for q in queues.all_stats(rt) if q.name == SYNC_QUEUE)
    assert (sync.depth, sync.oldest_age_seconds) == (6, None)
    assert 'queue_depth{queue="sync"} 6.0' in client.get("/metrics").text
    page = client.get("/ops", headers=admin).text
    assert '<dd class="queue-depth">6</dd>' in page[page.index('data-queue="sync"'):page.index('data-queue="bulk"')]

    # When the queue is deleted (with its delay and dead-letter queues)
    server.delete_queues()
    assert server.ready(SYNC_QUEUE) == 0
    lost_at = time.monotonic()

    # Then a webhook arriving now is not published into nothing: the publish is refused as
    # unroutable (publisher confirms), the queue declared again, and the message lands in it.
    # (Another integration's: a sync of the same tenant would take the six along in its
    # backlog batch, and the relay's part would go unseen.)
    other = create_integration(client, admin, sandbox, "xero")
    late = new_organisation(sandbox, other["subdomain"])
    late_id = send_webhook(client, other, late["id"], "create").get_json()["event_id"]
    assert outbox_sender.flush_all(10.0)  # the webhooks' messages leave from a sender thread
    assert server.ready(SYNC_QUEUE) == 1

    # When a worker starts and the relay runs
    relay.paused.clear()
    worker_pool.start()

    # Then the relay re-sends the six lost ones and each event is synced, once
    wait_until(lambda: all_in(rt, [*event_ids, late_id], "succeeded"), timeout=MINUTE, what="events succeeded")
    assert time.monotonic() - lost_at < MINUTE
    assert relay.totals["lost"] >= 1, relay.totals
    names = contact_names(sandbox, "xero", integration["tenant"])
    assert [names[m["name"]] for m in members] == [1] * 6, names
    assert contact_names(sandbox, "xero", other["tenant"])[late["name"]] == 1


def ready_or_zero(server: RabbitmqServer) -> int:
    """The sync queue's ready messages, 0 while the node still refuses connections."""
    try:
        return server.ready(SYNC_QUEUE)
    except pika.exceptions.AMQPError:
        return 0


def test_rabbitmq_restarted_with_webhooks_arriving_loses_nothing(
    client: Any, admin: Any, sandbox: Any, rt: Any, server: RabbitmqServer, worker_pool: Any, relay: Any,
) -> None:
    """A real restart of the RabbitMQ node (``rabbitmqctl stop_app`` / ``start_app``): every
    user of the node loses its connections, so it runs only where the run owns the machine
    (``RABBITMQ_RESTART=1``, set by ``.ci/run``)."""
    if os.environ.get("RABBITMQ_RESTART") != "1" or server.vhost is None:
        pytest.skip("SKIPPED LOUDLY: restarting the machine's RabbitMQ node runs only in CI "
                    "(RABBITMQ_RESTART=1, rabbitmqctl usable)")
    # Given events waiting in the durable queue (persistent messages) and no worker yet
    integration = create_integration(client, admin, sandbox, "xero")
    members = [new_organisation(sandbox, integration["subdomain"]) for _ in range(6)]
    waiting = [send_webhook(client, integration, m["id"], "create").get_json()["event_id"] for m in members[:3]]
    assert outbox_sender.flush_all(10.0)  # the webhooks' messages leave from a sender thread
    assert server.ready(SYNC_QUEUE) == 3

    # When the node stops, webhooks arrive while it is down, and it starts again
    stopped = ctl("stop_app")
    assert stopped.returncode == 0, stopped.stderr
    try:
        answers = [send_webhook(client, integration, m["id"], "create") for m in members[3:]]
    finally:
        started = ctl("start_app")
        assert started.returncode == 0, started.stderr
    assert [a.status_code for a in answers] == [202] * 3, [a.get_json() for a in answers]
    arrived = [a.get_json()["event_id"] for a in answers]
    assert set(statuses(rt, arrived).values()) == {"queued"}
    wait_until(lambda: ready_or_zero(server) >= 3, timeout=30, what="RabbitMQ back with its queue")
    worker_pool.start()

    # Then every event succeeds within a minute, one contact each
    wait_until(lambda: all_in(rt, waiting + arrived, "succeeded"), timeout=MINUTE, what="events succeeded")
    names = contact_names(sandbox, "xero", integration["tenant"])
    assert [names[m["name"]] for m in members] == [1] * 6, names


def test_ops_workers_view_lists_rabbitmq_workers_with_their_messages_in_flight(
    client: Any, admin: Any, sandbox: Any, rt: Any, worker_pool: Any,
) -> None:
    # Given a worker on RabbitMQ whose sync is held in its organisation fetch
    integration = create_integration(client, admin, sandbox, "xero")
    member = new_organisation(sandbox, integration["subdomain"])
    inject(sandbox, "current_rms", mode="delay", delay=HELD_CALL_SECONDS * 2, method="GET", path="/members", times=1)
    worker = worker_pool.start()[0]
    send_webhook(client, integration, member["id"], "create")
    wait_until(lambda: len(fetch_times(sandbox)) >= 1, timeout=20, interval=0.02, what="the held fetch")

    # Then the workers view lists it alive, with its host, pid, queues and the message in hand
    rows = wait_until(lambda: [r for r in worker_rows(rt.redis) if r.in_flight == 1], timeout=10,
                      what="a worker with one message in flight")
    assert len(rows) == 1 and not rows[0].dead
    assert rows[0].pid is not None and rows[0].queues == ["alerts", "bulk", "sync"]
    assert client.get("/ops/workers", headers=admin).status_code == 200

    # When it is killed, it is shown dead once its heartbeat is older than the view's bound
    worker.kill()
    wait_until(lambda: [r.dead for r in worker_rows(rt.redis)] == [True], timeout=DEAD_WORKER_SECONDS * 3,
               what="the killed worker shown dead")


def test_rabbitmq_queue_deleted_under_a_running_worker_strands_nothing_sent_after(
    client: Any, admin: Any, sandbox: Any, rt: Any, server: RabbitmqServer, worker_pool: Any, relay: Any,
) -> None:
    # Given a worker consuming the sync queue, which has synced a first event
    integration = create_integration(client, admin, sandbox, "xero")
    members = [new_organisation(sandbox, integration["subdomain"]) for _ in range(4)]
    worker_pool.start()
    first = send_webhook(client, integration, members[0]["id"], "create").get_json()["event_id"]
    wait_until(lambda: all_in(rt, [first], "succeeded"), timeout=MINUTE, what="the first event succeeded")

    # When the queue is deleted under it (RabbitMQ cancels its consumer) and three more arrive
    server.delete_queues()
    later = [send_webhook(client, integration, m["id"], "create").get_json()["event_id"] for m in members[1:]]

    # Then the worker consumes the queue declared again, and each is synced within a minute, once
    wait_until(lambda: all_in(rt, later, "succeeded"), timeout=MINUTE, what="later events succeeded")
    names = contact_names(sandbox, "xero", integration["tenant"])
    assert [names[m["name"]] for m in members] == [1] * 4, names


def test_a_send_after_rabbitmq_closed_the_connection_goes_out_on_a_new_one(
    rt: Any, broker_on: Any, server: RabbitmqServer,
) -> None:
    # Given a send on this thread's connection, which RabbitMQ then closes (as it does to an
    # idle connection that missed its heartbeats, or at a restart)
    broker_on.enqueue(messages.message(messages.SYNC_EVENT, "first", message_id="first-send"))
    server.close_all_connections()

    # When the next send goes out, it fails on the closed connection and succeeds on a new one
    broker_on.enqueue(messages.message(messages.SYNC_EVENT, "second", message_id="second-send"))

    # Then both wait in the queue
    assert server.ready(SYNC_QUEUE) == 2
