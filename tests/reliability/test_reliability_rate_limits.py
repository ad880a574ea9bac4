"""Rate limits: the per-tenant limiter in Redis keeps every worker process under the published
limits, and a 429 that comes anyway holds back every worker of that tenant.

The stand-ins here are this test's own, with the minute shortened to ``WINDOW`` seconds, and the
workers' limiter shortened alike (``RATE_LIMIT_WINDOW_SECONDS``): the same counts, faster.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterator

import pytest

from providers.http import DEFAULT_RETRY_AFTER, parse_retry_after
from tests.reliability.conftest import wait_until
from tests.reliability.reliability_helpers import all_in, contact_names, inject, new_organisation
from tests.support import create_integration, send_webhook

#: The stand-ins' and the limiter's "minute", in seconds.
WINDOW = 1.0
BURST = 300
#: Seconds of ``Retry-After`` on the injected 429.
PENALTY = 2.0
#: Seconds after the 429 within which a call that had already passed the limiter may arrive.
IN_FLIGHT = 0.3


@pytest.fixture
def short_sandbox(sandbox: Any) -> Iterator[Any]:
    """Xero and the rental system with the minute shortened to ``WINDOW`` seconds."""
    from sandbox import current_rms, xero
    from sandbox.runner import ServerThread

    servers = [
        ServerThread(xero.create_app(window=WINDOW)).start(),
        ServerThread(current_rms.create_app(rate_limit=60, window=WINDOW)).start(),
    ]
    yield dataclasses.replace(sandbox, xero=servers[0].url, current_rms=servers[1].url)
    for server in servers:
        server.stop()


def test_burst_of_300_events_for_one_tenant_gets_no_429_and_a_429_holds_back_every_worker(
    client: Any, admin: Any, short_sandbox: Any, rt: Any, worker_pool: Any, relay: Any,
) -> None:
    # Given two worker processes sharing the limiter, both ends counting a shortened minute
    sandbox = short_sandbox
    worker_pool.env["RATE_LIMIT_WINDOW_SECONDS"] = str(WINDOW)
    integration = create_integration(client, admin, sandbox, "xero")
    members = [new_organisation(sandbox, integration["subdomain"]) for _ in range(BURST)]
    worker_pool.start(2, threads=4)

    # When 300 creates arrive at once
    event_ids = [send_webhook(client, integration, m["id"], "create").get_json()["event_id"] for m in members]
    wait_until(lambda: all_in(rt, event_ids, "succeeded"), timeout=90, interval=0.5, what="burst synced")

    # Then neither system answered a single 429, and every organisation has one contact
    assert sandbox.get("xero", "stats")["refused_429"] == 0, sandbox.get("xero", "stats")
    assert sandbox.get("current_rms", "stats")["refused_429"] == 0
    names = contact_names(sandbox, "xero", integration["tenant"])
    assert sum(1 for m in members if names[m["name"]] == 1) == BURST

    # When a 429 comes anyway (the budget is shared with other apps)
    inject(sandbox, "xero", method="PUT", path="/Contacts$", status=429, times=1,
           headers={"Retry-After": str(int(PENALTY))}, body={"Title": "Rate limit"})
    more = [new_organisation(sandbox, integration["subdomain"]) for _ in range(8)]
    before = len(sandbox.calls("xero"))
    more_ids = [send_webhook(client, integration, m["id"], "create").get_json()["event_id"] for m in more]
    wait_until(lambda: all_in(rt, more_ids, "succeeded"), timeout=60, what="events after the 429")

    # Then no worker called that tenant again until its Retry-After had passed
    calls = sandbox.calls("xero")[before:]
    refused_at = next(c["at"] for c in calls if c["method"] == "PUT")
    # (a call already past the limiter when the 429 arrived may still land in its first moments)
    after = [round(c["at"] - refused_at, 2) for c in calls if c["at"] > refused_at]
    assert after and max(after) >= PENALTY
    assert not [t for t in after if IN_FLIGHT < t < PENALTY - 0.1], after
    names = contact_names(sandbox, "xero", integration["tenant"])
    assert [names[m["name"]] for m in more] == [1] * len(more)


def test_a_429_without_retry_after_waits_a_minute() -> None:
    # QuickBooks sends no Retry-After (reference B5): wait 60 s
    assert DEFAULT_RETRY_AFTER == 60.0
    assert parse_retry_after(None) == 60.0
    assert parse_retry_after("7") == 7.0
