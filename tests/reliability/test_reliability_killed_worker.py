"""A worker process killed (SIGKILL) in the middle of syncs: after a restart every event ends
``succeeded`` and every organisation still has one contact.

The kill catches four syncs at once: two inside the create call, whose write the accounting
system applies after the worker died (so the contact exists, its answer never arrived and no
link was stored: the state a kill "between the provider's answer and storing the link" leaves),
and two still fetching their organisation (no write yet). The worker had prefetched more
messages that it never started. On Redis those go back to the queue when Dramatiq's maintenance
sees the dead worker's heartbeat go stale; on RabbitMQ when the killed worker's connection drops.
Runs on both brokers.
"""
from __future__ import annotations

from typing import Any

from tests.reliability.conftest import BOTH_BROKERS, wait_until
from tests.reliability.reliability_helpers import (
    all_in,
    contact_names,
    fetch_times,
    inject,
    links_of,
    new_organisation,
)
from tests.support import create_integration, send_webhook

#: Seconds the stand-in holds the calls the kill catches; below the suite's lock TTL (3 s), as
#: a real call (23 s at worst) is below the production TTL (120 s): the lock's design rule.
HELD_CALL_SECONDS = 1.5


def pending_calls(sandbox: Any) -> tuple[int, int]:
    creates = [c for c in sandbox.calls("xero") if c["method"] == "PUT" and c["path"].endswith("/Contacts")]
    return len(creates), len(fetch_times(sandbox))


@BOTH_BROKERS
def test_worker_killed_mid_sync_ends_with_every_event_succeeded_and_one_contact_each(
    client: Any, admin: Any, sandbox: Any, rt: Any, worker_pool: Any, relay: Any,
) -> None:
    # Given ten new organisations, the first two fetches and the first two creates held
    integration = create_integration(client, admin, sandbox, "xero")
    members = [new_organisation(sandbox, integration["subdomain"]) for _ in range(10)]
    inject(sandbox, "xero", mode="delay", delay=HELD_CALL_SECONDS, method="PUT", path="/Contacts$", times=2)
    inject(sandbox, "current_rms", mode="delay", delay=HELD_CALL_SECONDS, method="GET", path="/members", times=2)
    worker = worker_pool.start(threads=4)[0]

    # When their creates arrive and the worker is killed while a held create is in flight (a
    # create the stand-in applies after the kill) and fetches are held too. How many creates go
    # out in that first call depends on how many events the worker claimed together (a backlog
    # goes out as one batch call), so the wait is for the first held create, not a count.
    event_ids = [send_webhook(client, integration, m["id"], "create").get_json()["event_id"] for m in members]
    wait_until(lambda: all(n >= m for n, m in zip(pending_calls(sandbox), (1, 2), strict=True)),
               timeout=20, interval=0.02, what="a held create and two fetches")
    worker.kill()

    # Then, after a restart, every event ends succeeded
    worker_pool.start(threads=4)
    wait_until(lambda: all_in(rt, event_ids, "succeeded"), timeout=60, what="events succeeded")

    # And each organisation has exactly one contact, linked once
    names = contact_names(sandbox, "xero", integration["tenant"])
    assert [names[m["name"]] for m in members] == [1] * 10, names
    links = links_of(rt, integration["id"])
    assert sorted(link.organisation_id for link in links) == sorted(m["id"] for m in members)
