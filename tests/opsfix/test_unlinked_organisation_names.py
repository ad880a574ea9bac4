"""Organisations left unlinked appear by name (issue 16: "Organisations appear by id only
('Create of organisation 205101')"): a failed or skipped sync keeps the rental system's name in
its outcome (no link carries it), and the event lists, the event page and the health page show
it. Over HTTP with a real worker and the sandbox."""
from __future__ import annotations

from typing import Any

from tests.support import RunningWorker, create_integration, seed_organisation, send_webhook, wait_event
from tests.webhooks.ops.test_ops_page import sign_in
from tests.webhooks.ops_support import refused_contact


def test_a_failed_create_names_its_organisation_everywhere(client: Any, admin: Any, rt: Any, sandbox: Any) -> None:
    # Given a create Xero refused (the organisation stays unlinked)
    with RunningWorker(rt):
        case = refused_contact(client, admin, sandbox)
    event, integration = case["event"], case["integration"]
    name = case["member"]["name"]

    # Then its outcome carries the organisation's name
    assert event["outcome"]["organisation_name"] == name
    # and the pages show the name, not "organisation <id>"
    sign_in(client)
    overview = client.get("/ops?status=failed").text
    assert f"{name} <span class=\"muted mono small-text\">{event['organisation_id']}</span>" in overview
    page = client.get(f"/ops/events/{event['id']}").text
    assert f"of {name} <span class=\"muted mono\">" in page
    health = client.get(f"/ops/integrations/{integration['id']}/health").text
    assert f"{name} ↗</a>" in health and f"organisation {event['organisation_id']} ↗" not in health


def test_a_skipped_sync_names_its_organisation(client: Any, admin: Any, rt: Any, sandbox: Any) -> None:
    # Given an inactive organisation's edit (skipped: an inactive unlinked one is never synced)
    integration = create_integration(client, admin, sandbox, "xero")
    member = seed_organisation(sandbox, integration["subdomain"], name="Quiet Hire Co", active=False)
    with RunningWorker(rt):
        answer = send_webhook(client, integration, member["id"], "update").get_json()
        event = wait_event(client, admin, answer["event_id"], timeout=40)

    assert event["status"] == "skipped", event
    assert event["outcome"]["organisation_name"] == "Quiet Hire Co"
