"""Repeated, concurrent and out-of-order deliveries, and a worker that stalls past its lock.

At most one contact per organisation, holding its latest state (docs/architecture.md, invariants): the event
is unique on ``action.id``, its claim is a conditional UPDATE, the organisation lock serialises
syncs, and the fencing check before each write stops a worker whose lock expired.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

from tests.reliability.conftest import wait_until
from tests.reliability.reliability_helpers import (
    all_in,
    contacts,
    events_of,
    fetch_times,
    inject,
    new_organisation,
    writes,
)
from tests.support import create_integration, edit_organisation, send_webhook


def emails(address: str) -> list[dict[str, Any]]:
    return [{"address": address, "type_id": 4001, "email_type_name": "Work"}]


def contacts_named(sandbox: Any, tenant: str, name: str) -> list[dict[str, Any]]:
    return [c for c in contacts(sandbox, "xero", tenant) if c["Name"] == name]


def test_same_delivery_five_times_at_once_makes_one_event_and_one_sync(
    app: Any, client: Any, admin: Any, sandbox: Any, rt: Any, worker_pool: Any, relay: Any,
) -> None:
    # Given a new organisation and two worker processes
    integration = create_integration(client, admin, sandbox, "xero")
    member = new_organisation(sandbox, integration["subdomain"])
    worker_pool.start(2)

    # When the rental system delivers the same action five times at once
    answers: list[Any] = []
    start = threading.Barrier(5)

    def deliver() -> None:
        own_client = app.test_client()
        start.wait()
        answers.append(send_webhook(own_client, integration, member["id"], "create", action_id=777001))

    threads = [threading.Thread(target=deliver) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then one event is recorded (202 once, 200 with the same id four times) and synced once
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 200, 202]
    assert len({a.get_json()["event_id"] for a in answers}) == 1
    event_id = answers[0].get_json()["event_id"]
    wait_until(lambda: all_in(rt, [event_id], "succeeded"), timeout=20, what="event succeeded")
    time.sleep(1.0)  # room for a wrongly repeated sync to show
    assert len(events_of(rt, integration["id"])) == 1
    assert len(writes(sandbox, "xero", "/Contacts")) == 1
    assert len(contacts_named(sandbox, integration["tenant"], member["name"])) == 1


def test_create_and_three_edits_within_100ms_leave_one_contact_with_the_latest_state(
    client: Any, admin: Any, sandbox: Any, rt: Any, worker_pool: Any, relay: Any,
) -> None:
    # Given two worker processes of four threads each
    integration = create_integration(client, admin, sandbox, "xero")
    worker_pool.start(2, threads=4)
    subdomain = integration["subdomain"]

    # When an organisation is created and edited three times, each change delivered at once
    member = new_organisation(sandbox, subdomain)
    event_ids = [send_webhook(client, integration, member["id"], "create").get_json()["event_id"]]
    for n in range(1, 4):
        edit_organisation(sandbox, subdomain, member["id"], {"emails": emails(f"edit{n}@example.com")})
        event_ids.append(send_webhook(client, integration, member["id"]).get_json()["event_id"])

    # Then every event ends succeeded, and one contact holds the last edit
    wait_until(lambda: all_in(rt, event_ids, "succeeded"), timeout=30, what="events succeeded")
    found = contacts_named(sandbox, integration["tenant"], member["name"])
    assert len(found) == 1, found
    assert found[0]["EmailAddress"] == "edit3@example.com"


def test_edit_delivered_before_its_create_leaves_one_contact_with_the_latest_state(
    client: Any, admin: Any, sandbox: Any, rt: Any, worker_pool: Any, relay: Any,
) -> None:
    # Given an organisation created then edited in the rental system
    integration = create_integration(client, admin, sandbox, "xero")
    member = new_organisation(sandbox, integration["subdomain"])
    edit_organisation(sandbox, integration["subdomain"], member["id"], {"emails": emails("latest@example.com")})
    worker_pool.start()

    # When the edit's webhook arrives before the create's
    edit = send_webhook(client, integration, member["id"], "update", action_id=888002)
    create = send_webhook(client, integration, member["id"], "create", action_id=888001)
    event_ids = [edit.get_json()["event_id"], create.get_json()["event_id"]]

    # Then both succeed and one contact holds the latest state
    wait_until(lambda: all_in(rt, event_ids, "succeeded"), timeout=20, what="events succeeded")
    found = contacts_named(sandbox, integration["tenant"], member["name"])
    assert len(found) == 1, found
    assert found[0]["EmailAddress"] == "latest@example.com"


def test_worker_stalled_past_its_lock_cannot_write_over_a_newer_result(
    client: Any, admin: Any, sandbox: Any, rt: Any, worker_pool: Any, relay: Any,
) -> None:
    # Given a linked organisation and one worker process
    integration = create_integration(client, admin, sandbox, "xero")
    subdomain = integration["subdomain"]
    member = new_organisation(sandbox, subdomain)
    stalled = worker_pool.start()[0]
    created = send_webhook(client, integration, member["id"], "create").get_json()["event_id"]
    wait_until(lambda: all_in(rt, [created], "succeeded"), timeout=20, what="create succeeded")

    # When the worker fetches edit 1 and freezes (SIGSTOP) before it can write it
    edit_organisation(sandbox, subdomain, member["id"], {"emails": emails("stale@example.com")})
    inject(sandbox, "current_rms", mode="delay", delay=1.0, method="GET", path="/members")
    fetches = len(fetch_times(sandbox, member["id"]))
    first = send_webhook(client, integration, member["id"]).get_json()["event_id"]
    wait_until(lambda: len(fetch_times(sandbox, member["id"])) > fetches, timeout=10, interval=0.01,
               what="the fetch of edit 1")
    os.killpg(stalled.process.pid, signal.SIGSTOP)
    try:
        time.sleep(1.5)  # the stand-in answers the old state into the frozen worker's socket

        # And, its lock expired, another worker syncs edit 2
        edit_organisation(sandbox, subdomain, member["id"], {"emails": emails("newest@example.com")})
        second = send_webhook(client, integration, member["id"]).get_json()["event_id"]
        worker_pool.start()
        wait_until(lambda: all_in(rt, [first, second], "succeeded"), timeout=30, what="newer result")
        newest_write = len(writes(sandbox, "xero", "/Contacts"))
    finally:
        os.killpg(stalled.process.pid, signal.SIGCONT)

    # Then the frozen worker, woken, finds its lock gone and writes nothing stale
    time.sleep(2.0)
    bodies = [call["body"] for call in writes(sandbox, "xero", "/Contacts")]
    assert not any("stale@example.com" in body for body in bodies), "a stalled worker wrote stale data"
    assert len(bodies) == newest_write
    found = contacts_named(sandbox, integration["tenant"], member["name"])
    assert [c["EmailAddress"] for c in found] == ["newest@example.com"]
