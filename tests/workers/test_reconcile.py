"""The reconciliation poll catches organisations whose webhooks never arrived (interface §5)."""
from __future__ import annotations

from typing import Any

import pytest

from core.store import events as event_store
from core.store import integrations
from tests.support import (
    create_integration,
    edit_organisation,
    running_worker,
    seed_organisation,
    wait_for,
)
from workers.reconcile import reconcile


@pytest.fixture
def worker(rt: Any) -> Any:
    yield from running_worker(rt)


def poll_events(rt: Any, integration_id: str) -> list[Any]:
    rows, _ = event_store.page(rt.db, event_store.EventFilter(integration_id=integration_id),
                               limit=500, cursor=None)
    return [row for row in rows if row.source_event_id.startswith("poll:")]


def test_poll_records_one_event_per_change_and_is_idempotent(rt: Any, client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    # Given an integration and an organisation created in the rental system with no webhook delivered
    integration = create_integration(client, admin, sandbox, "xero")
    member = seed_organisation(sandbox, integration["subdomain"])

    # When the poll runs
    row = integrations.get(rt.db, integration["id"])
    assert reconcile(rt, row) == 1

    # Then one `create` event exists for it, and it makes the contact
    polled = poll_events(rt, integration["id"])
    assert [(e.organisation_id, e.kind) for e in polled] == [(member["id"], "create")]
    assert polled[0].source_event_id == f"poll:{member['id']}:{member['updated_at']}"
    done = wait_for(lambda: (e := event_store.get(rt.db, polled[0].id)).status == "succeeded" and e)
    assert done.outcome["action"] == "created"

    # When the poll runs again with nothing changed, nothing new is recorded
    assert reconcile(rt, integrations.get(rt.db, integration["id"])) == 0

    # When the organisation is edited, the next poll records an `update`
    edit_organisation(sandbox, integration["subdomain"], member["id"], {"name": member["name"] + " Ltd"})
    assert reconcile(rt, integrations.get(rt.db, integration["id"])) == 1
    kinds = sorted(e.kind for e in poll_events(rt, integration["id"]))
    assert kinds == ["create", "update"]


def test_reconcile_endpoint_queues_the_poll(rt: Any, client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    integration = create_integration(client, admin, sandbox, "xero")
    member = seed_organisation(sandbox, integration["subdomain"])

    response = client.post(f"/api/integrations/{integration['id']}/reconcile", headers=admin)

    assert response.status_code == 202
    polled = wait_for(lambda: poll_events(rt, integration["id"]))
    assert polled[0].organisation_id == member["id"]
