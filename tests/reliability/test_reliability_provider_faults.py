"""Accounting-system faults and the retry policy.

5xx, timeouts, connection resets and a write applied whose answer was lost are retried with
exponential backoff and jitter; every event ends ``succeeded`` with no duplicate. Causes that
need a person fail at once; transient ones give up after ``RETRY_GIVE_UP_SECONDS`` with the last
error, and the failed event stays in the database.

The timeout case needs a read timeout shorter than the stand-in's delay, so that test runs the
worker in the test process (``tests.support.RunningWorker``) on a runtime whose
``http_timeout`` is shortened; ``Settings`` reads no variable for it, so a worker process would
wait the full 20 s. The other tests use worker processes.
"""
from __future__ import annotations

import random
from functools import partial
from typing import Any

from sqlalchemy import select

from core.backoff import backoff
from core.tables import EventAttempt
from tests.reliability.conftest import wait_until
from tests.reliability.reliability_helpers import (
    all_in,
    contact_names,
    events_of,
    inject,
    new_organisation,
)
from tests.support import RunningWorker, create_integration, send_webhook

#: (connect, read) seconds for the in-process worker; the stand-in holds a call longer.
SHORT_TIMEOUT = (1.0, 1.0)
FAULTS = [
    {"status": 503},
    {"status": 500},
    {"mode": "delay", "delay": 2.0},  # the read timeout fires; the stand-in then applies the write
    {"mode": "reset"},  # connection reset before the work
    {"mode": "lost"},  # the write is applied, its answer lost
]


def attempts_of(rt: Any, event_id: str) -> list[EventAttempt]:
    with rt.db.session() as session:
        return list(session.scalars(
            select(EventAttempt).where(EventAttempt.event_id == event_id).order_by(EventAttempt.number)
        ))


def test_provider_faults_are_retried_until_every_event_succeeds_without_duplicates(
    client: Any, admin: Any, sandbox: Any, rt: Any, relay: Any,
) -> None:
    # Given a worker whose calls time out after one second
    rt.settings = rt.settings.with_overrides(http_timeout=SHORT_TIMEOUT)
    integration = create_integration(client, admin, sandbox, "xero")
    members = [new_organisation(sandbox, integration["subdomain"]) for _ in FAULTS]

    with RunningWorker(rt, threads=2):
        # When each create meets one fault of each kind (twice for the status faults)
        event_ids = []
        for member, fault in zip(members, FAULTS, strict=True):
            times = 2 if "status" in fault else 1
            inject(sandbox, "xero", method="PUT", path="/Contacts$", times=times, **fault)
            event_id = send_webhook(client, integration, member["id"], "create").get_json()["event_id"]
            wait_until(partial(all_in, rt, [event_id], "succeeded"), timeout=30, what=f"event past {fault}")
            event_ids.append(event_id)

    # Then every event succeeded after failed attempts that recorded the cause, one contact each
    for event_id, fault in zip(event_ids, FAULTS, strict=True):
        attempts = attempts_of(rt, event_id)
        assert [a.status for a in attempts][-1] == "succeeded"
        failed = [a for a in attempts if a.status == "retrying"]
        assert len(failed) >= (2 if "status" in fault else 1), (fault, [(a.status, a.error) for a in attempts])
        assert all(a.error for a in failed)
    names = contact_names(sandbox, "xero", integration["tenant"])
    assert [names[m["name"]] for m in members] == [1] * len(members), names


def test_backoff_grows_exponentially_with_jitter_between_its_bounds() -> None:
    # Given the production bounds (about 5 s to 10 min)
    random.seed(7)
    low, high = 5.0, 600.0

    # When the delays of successive failed attempts are drawn
    delays = [[backoff(attempt, low=low, high=high) for _ in range(200)] for attempt in range(1, 12)]

    # Then each attempt's ceiling doubles until the cap, with jitter below it
    for attempt, drawn in enumerate(delays, start=1):
        ceiling = min(high, low * 2 ** (attempt - 1))
        assert all(ceiling * 0.5 <= d <= ceiling for d in drawn)
        assert max(drawn) - min(drawn) > ceiling * 0.3  # jitter spreads a burst
    assert min(delays[0]) >= 2.5 and max(delays[-1]) <= 600


def test_retry_policy_gives_up_keeps_failed_events_and_fails_at_once_what_needs_a_person(
    client: Any, admin: Any, sandbox: Any, rt: Any, worker_pool: Any, relay: Any,
) -> None:
    # Given workers that give up retrying after two seconds
    worker_pool.env["RETRY_GIVE_UP_SECONDS"] = "2"
    integration = create_integration(client, admin, sandbox, "xero")
    flaky, invalid, busy = (new_organisation(sandbox, integration["subdomain"]) for _ in range(3))
    worker_pool.start()

    # When one create keeps meeting 503s, and another is refused as invalid (a person must act)
    inject(sandbox, "xero", method="PUT", path="/Contacts$", status=503, times=1000,
           body={"Type": None, "Message": "flaky-only"}, headers={})
    failing = send_webhook(client, integration, flaky["id"], "create").get_json()["event_id"]
    wait_until(lambda: all_in(rt, [failing], "failed"), timeout=30, what="give up")
    _clear_faults(sandbox)
    inject(sandbox, "xero", method="PUT", path="/Contacts$", status=400, times=1, body={
        "ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
        "Elements": [{"ValidationErrors": [{"Message": "Email address must be valid."}]}],
    })
    refused = send_webhook(client, integration, invalid["id"], "create").get_json()["event_id"]
    wait_until(lambda: all_in(rt, [refused], "failed"), timeout=20, what="validation failure")

    # Then the flaky one failed after several attempts, with the last error and a reason
    stored = {e.id: e for e in events_of(rt, integration["id"])}
    assert stored[failing].attempts >= 2
    assert "503" in (stored[failing].last_error or "")
    assert "gave up retrying" in stored[failing].outcome["reason"]
    # And the invalid one failed at its first attempt, with a reason a person can act on
    assert stored[refused].attempts == 1
    assert stored[refused].outcome["reason"]

    # When two events of one organisation meet while its lock is held (a wait, not a failure)
    inject(sandbox, "xero", mode="delay", delay=1.0, method="PUT", path="/Contacts$", times=1)
    first = send_webhook(client, integration, busy["id"], "create").get_json()["event_id"]
    second = send_webhook(client, integration, busy["id"]).get_json()["event_id"]
    wait_until(lambda: all_in(rt, [first, second], "succeeded"), timeout=20, what="both succeeded")

    # Then neither counted a failed attempt
    stored = {e.id: e for e in events_of(rt, integration["id"])}
    assert [stored[e].attempts for e in (first, second)] == [1, 1]
    assert [len(attempts_of(rt, e)) for e in (first, second)] == [1, 1]
    assert all(a.status == "succeeded" for e in (first, second) for a in attempts_of(rt, e))


def _clear_faults(sandbox: Any) -> None:
    import requests

    requests.delete(f"{sandbox.xero}/_sandbox/faults", timeout=5).raise_for_status()
