"""Redis faults: down when a webhook arrives, and losing its queue while events wait in it.

The database, not Redis, is the record of what is owed (docs/architecture.md, invariants): a webhook is
answered once its event is committed, and the outbox relay hands the broker whatever it lacks.
"""
from __future__ import annotations

import time
from typing import Any

from core.store.events import by_ids
from tests.reliability.conftest import wait_until
from tests.reliability.reliability_helpers import (
    all_in,
    contact_names,
    inject,
    new_organisation,
    statuses,
)
from tests.support import create_integration, send_webhook
from workers import outbox_sender
from workers.broker import NAMESPACE, SYNC_QUEUE

#: The issue's bound: no event waits longer than this after Redis is back or lost its queue.
MINUTE = 60.0


def test_redis_down_webhook_is_stored_answered_and_relayed_once_redis_returns(
    client: Any, admin: Any, sandbox: Any, rt: Any, private_redis: Any, worker_pool: Any, relay: Any,
) -> None:
    # Given an integration, a running worker process and relay, and Redis then going down
    integration = create_integration(client, admin, sandbox, "xero")
    members = [new_organisation(sandbox, integration["subdomain"]) for _ in range(5)]
    worker_pool.start()
    private_redis.stop()

    # When the rental system delivers five creates while Redis is down
    answers = [send_webhook(client, integration, m["id"], "create") for m in members]

    # Then each is answered 2xx and stored, owed and not yet handed to any broker
    assert [a.status_code for a in answers] == [202] * 5, [a.get_json() for a in answers]
    event_ids = [a.get_json()["event_id"] for a in answers]
    assert set(statuses(rt, event_ids).values()) == {"queued"}
    time.sleep(0.5)  # the relay ticks meanwhile, and must not lose anything by failing
    assert set(statuses(rt, event_ids).values()) == {"queued"}

    # When Redis comes back (empty)
    private_redis.start()
    returned = time.monotonic()

    # Then every event is sent and synced well within a minute, each creating one contact
    wait_until(lambda: all_in(rt, event_ids, "succeeded"), timeout=MINUTE, what="events succeeded")
    assert time.monotonic() - returned < MINUTE
    names = contact_names(sandbox, "xero", integration["tenant"])
    assert {m["name"]: names[m["name"]] for m in members} == {m["name"]: 1 for m in members}


def test_redis_losing_its_queue_strands_no_event(
    client: Any, admin: Any, sandbox: Any, rt: Any, private_redis: Any, worker_pool: Any, relay: Any,
) -> None:
    # Given events sent to the broker while no worker consumes: they wait in Redis
    integration = create_integration(client, admin, sandbox, "xero")
    members = [new_organisation(sandbox, integration["subdomain"]) for _ in range(6)]
    event_ids = [send_webhook(client, integration, m["id"], "create").get_json()["event_id"] for m in members]
    assert outbox_sender.flush_all(5.0)  # the webhook's messages leave from a sender thread
    held = rt.redis.hkeys(f"{NAMESPACE}:{SYNC_QUEUE}.msgs")
    assert {e.message_id.encode() for e in by_ids(rt.db, event_ids)} <= set(held)

    # When Redis restarts without persistence (half the time: is flushed) and workers start
    private_redis.restart()
    assert private_redis.client().hlen("dramatiq:sync.msgs") == 0
    lost_at = time.monotonic()
    worker_pool.start()

    # Then the relay notices the broker no longer holds them and every event is synced, once
    wait_until(lambda: all_in(rt, event_ids, "succeeded"), timeout=MINUTE, what="events succeeded")
    assert time.monotonic() - lost_at < MINUTE
    # Nothing runs unless the relay re-sends: no message survived the restart. Once one is
    # re-sent, its worker may claim the other waiting creates with it as one batch
    # (workers/batching.py) before the relay marks them too, so at least one, not all six.
    assert relay.totals["lost"] >= 1
    names = contact_names(sandbox, "xero", integration["tenant"])
    assert [names[m["name"]] for m in members] == [1] * 6

    # When the queue is flushed while retrying events wait (the provider failing at first)
    inject(sandbox, "xero", path="/Contacts", method="PUT", status=503, times=2)
    more = [new_organisation(sandbox, integration["subdomain"]) for _ in range(2)]
    worker_pool.started[0].kill()
    retry_ids = [send_webhook(client, integration, m["id"], "create").get_json()["event_id"] for m in more]
    private_redis.flush()
    worker_pool.start()

    # Then those too are sent again and end succeeded with one contact each
    wait_until(lambda: all_in(rt, retry_ids, "succeeded"), timeout=MINUTE, what="flushed events succeeded")
    names = contact_names(sandbox, "xero", integration["tenant"])
    assert [names[m["name"]] for m in more] == [1, 1]
