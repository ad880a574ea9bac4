"""A tenant's backlog of creates is coalesced into batch calls; each event keeps its fate."""
from __future__ import annotations

import itertools
from typing import Any

import pytest

from core.store import events as event_store
from tests.support import create_integration, sample_member, seed_organisation, send_webhook, wait_for

NUMBERS = itertools.count(1)

WRITE_PATHS = {"xero": "/api.xro/2.0/Contacts", "quickbooks": "/batch"}


def queue_creates(client: Any, integration: dict[str, Any], sandbox: Any, count: int, **changes: Any) -> list[str]:
    """``count`` new organisations whose create webhooks arrive before any worker runs."""
    event_ids = []
    for _ in range(count):
        # Account numbers are unique in Xero: each organisation gets its own.
        membership = {**sample_member()["membership"], "number": f"ACC-{next(NUMBERS)}"}
        member = seed_organisation(sandbox, integration["subdomain"], membership=membership, **changes)
        event_ids.append(send_webhook(client, integration, member["id"], "create").get_json()["event_id"])
    return event_ids


def settled(rt: Any, event_ids: list[str]) -> list[Any]:
    rows = event_store.by_ids(rt.db, event_ids)
    done = [row for row in rows if row.status in ("succeeded", "failed", "skipped")]
    return done if len(done) == len(event_ids) else []


@pytest.mark.parametrize("kind,batch", [("xero", 50), ("quickbooks", 30)])
def test_a_backlog_of_creates_costs_one_write_per_batch(kind: str, batch: int, rt: Any, client: Any, admin: Any, sandbox: Any) -> None:
    # Given 60 create events waiting for one tenant
    integration = create_integration(client, admin, sandbox, kind)
    event_ids = queue_creates(client, integration, sandbox, 60)
    writes_before = sandbox.get(kind, "stats")["writes"]

    # When a worker takes them
    with _worker(rt):
        rows = wait_for(lambda: settled(rt, event_ids), timeout=30)

    # Then every event created its own contact, in a handful of batch calls
    assert {row.status for row in rows} == {"succeeded"}
    assert {row.outcome["action"] for row in rows} == {"created"}
    assert len({row.outcome["contact_id"] for row in rows}) == 60
    writes = sandbox.get(kind, "stats")["writes"] - writes_before
    assert writes <= -(-60 // batch) + 1, writes  # ceil(60 / batch), plus one early single create


def test_a_name_clash_inside_a_batch_links_the_existing_contact(rt: Any, client: Any, admin: Any, sandbox: Any) -> None:
    # Given a Xero contact already named like one of ten waiting organisations
    integration = create_integration(client, admin, sandbox, "xero")
    existing = sandbox.control("xero", "contacts", tenant=integration["tenant"],
                               contact={"Name": "Harbour Lights Ltd"})
    clash_event = queue_creates(client, integration, sandbox, 1, name="Harbour Lights Ltd")
    others = queue_creates(client, integration, sandbox, 9)

    with _worker(rt):
        rows = wait_for(lambda: settled(rt, clash_event + others), timeout=30)

    by_id = {row.id: row for row in rows}
    assert by_id[clash_event[0]].status == "succeeded"
    assert by_id[clash_event[0]].outcome["action"] == "linked"
    assert by_id[clash_event[0]].outcome["contact_id"] == existing["ContactID"]
    assert {by_id[i].outcome["action"] for i in others} == {"created"}


def test_baseline_without_batching_makes_one_call_per_contact(tmp_path: Any, redis_client: Any, sandbox: Any, admin: Any) -> None:
    from core import runtime as runtime_module
    from core.runtime import Runtime
    from core.settings import Settings
    from tests.conftest import make_env, migrate
    from webhooks import create_app

    settings = Settings.from_env(make_env(f"sqlite:///{tmp_path}/app.db", BATCH_CREATES="0"))
    migrate(settings.database_url)
    rt = Runtime.from_settings(settings)
    client = create_app({"TESTING": True}, rt=rt).test_client()
    try:
        integration = create_integration(client, admin, sandbox, "xero")
        event_ids = queue_creates(client, integration, sandbox, 12)
        writes_before = sandbox.get("xero", "stats")["writes"]
        with _worker(rt):
            rows = wait_for(lambda: settled(rt, event_ids), timeout=30)
        assert {row.status for row in rows} == {"succeeded"}
        assert sandbox.get("xero", "stats")["writes"] - writes_before == 12
    finally:
        runtime_module.install(None)
        rt.close()


def _worker(rt: Any) -> Any:
    from tests.support import RunningWorker

    return RunningWorker(rt, threads=2)
