"""Replies lost between Redis and a live process (issue 13, findings 1 and 6), by a real TCP
proxy on loopback that drops or delays chosen replies (``tests/tcp_proxy.py``)."""
from __future__ import annotations

from typing import Any

from core.store import events
from tests.reliability.conftest import wait_until
from tests.reliability.reliability_helpers import (
    all_in,
    contact_names,
    new_organisation,
)
from tests.support import create_integration, send_webhook
from tests.tcp_proxy import dramatiq_fetch_with_messages
from workers.broker import SYNC_QUEUE


def test_a_dropped_fetch_reply_strands_no_event_while_the_worker_lives(
    client: Any, admin: Any, sandbox: Any, rt: Any, private_redis: Any, redis_proxy: Any,
    proxied_workers: Any, relay: Any,
) -> None:
    # Given a live worker reaching Redis through the proxy, which will drop the next reply to
    # a fetch that carries messages (Redis moved them into the worker's ack set; the worker
    # never learns it got them)
    integration = create_integration(client, admin, sandbox, "xero")
    member = new_organisation(sandbox, integration["subdomain"])
    worker = proxied_workers.start(threads=2)[0]
    dropped = redis_proxy.drop_reply(dramatiq_fetch_with_messages(SYNC_QUEUE))

    # When a create arrives and its message's fetch reply is lost
    event_id = send_webhook(client, integration, member["id"], "create").get_json()["event_id"]
    wait_until(lambda: dropped.hits == 1, timeout=20, what="the fetch reply dropped")

    # Then the event is still synced while that same worker lives, creating one contact
    wait_until(lambda: all_in(rt, [event_id], "succeeded"), timeout=20, what="event succeeded")
    assert worker.process is not None and worker.process.poll() is None
    assert relay.totals["lost"] >= 1
    assert contact_names(sandbox, "xero", integration["tenant"])[member["name"]] == 1


def test_a_slow_enqueue_reply_never_undoes_the_workers_retry_later(
    client: Any, admin: Any, sandbox: Any, rt: Any, redis_proxy: Any, worker_pool: Any,
) -> None:
    # Given a worker, an owed event whose organisation another sync holds locked (so the worker
    # puts it back to wait at once), and the web side's broker behind the proxy, whose reply to
    # the next enqueue comes 1.5 s late: Redis has the message and the worker runs it meanwhile
    from core.locks import OrganisationLock
    from core.store.events import NewEvent
    from tests.reliability.conftest import broker_at
    from tests.tcp_proxy import dramatiq_enqueue_of
    from workers import outbox

    integration = create_integration(client, admin, sandbox, "xero")
    lock = OrganisationLock(rt.redis, integration_id=integration["id"], organisation_id=4242, ttl=30)
    assert lock.acquire()
    event, _ = events.record(rt.db, NewEvent(
        integration_id=integration["id"], source_event_id="slow-enqueue", organisation_id=4242,
        subject_type="Member", kind="update", payload={},
    ))
    worker_pool.start(threads=2)
    late = redis_proxy.delay_reply(dramatiq_enqueue_of(SYNC_QUEUE), 1.5)

    # When the outbox sends it
    with broker_at(redis_proxy.url):
        assert outbox.send(rt, event.id)
    assert late.hits == 1

    # Then the worker's "wait and try again" stands: the event is owed and unsent, so the relay
    # sends it as soon as it is due (not only after the lost-message bound)
    stored = wait_until(lambda: (e := events.get(rt.db, event.id)).next_attempt_at is not None and e,
                        timeout=10, what="the worker put the event back")
    assert (stored.status, stored.sent_at, stored.message_id) == ("queued", None, None)
    lock.release()
