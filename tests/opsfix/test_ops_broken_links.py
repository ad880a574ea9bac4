"""Issue 14's ops part: broken links listed with their four actions, each working on real parts
(the app, Redis, a worker in this process, the sandbox's Xero); drift shown on the event page."""
from __future__ import annotations

import re
from typing import Any

import pytest

from tests.ledger.support import link_of, linked, wait_ledger_event, xero_contact, xero_delivery, xero_edit
from tests.support import running_worker, wait_for
from tests.webhooks.ops.test_ops_page import sign_in


@pytest.fixture
def worker(rt: Any) -> Any:
    yield from running_worker(rt)


def _broken(client: Any, admin: Any, sandbox: Any) -> dict[str, Any]:
    """A Xero integration whose one link the ledger marked broken (the contact archived)."""
    integration = linked(client, admin, sandbox, "xero")  # on_contact_archived: flag, the default
    sandbox.control("xero", "archive", tenant=integration["tenant"], contact_id=integration["contact_id"])
    xero_delivery(client, integration, [integration["contact_id"]])
    event = wait_ledger_event(client, admin, integration, integration["contact_id"])
    assert event["outcome"]["action"] == "broken", event
    return integration


def _broken_section(html: str) -> str:
    match = re.search(r'<section class="card" id="broken-links">(.*?)</section>', html, re.S)
    return match.group(1) if match else ""


def test_a_broken_link_is_listed_with_its_reason_and_four_actions(
    client: Any, admin: Any, sandbox: Any, worker: Any,
) -> None:
    integration = _broken(client, admin, sandbox)
    sign_in(client)
    section = _broken_section(client.get(f"/ops/integrations/{integration['id']}").text)
    org = integration["organisation"]["id"]
    assert integration["contact_id"] in section and "was archived in the accounting system" in section
    for action in ("reactivate", "recreate", "delete"):
        assert f"/links/{org}/{action}" in section
    assert 'data-suggest-url=' in section and "Relink" in section


@pytest.mark.parametrize("action", ["reactivate", "recreate"])
def test_reactivate_and_recreate_run_as_ledger_events(
    client: Any, admin: Any, sandbox: Any, worker: Any, action: str,
) -> None:
    integration = _broken(client, admin, sandbox)
    contact_id, org = integration["contact_id"], integration["organisation"]["id"]
    csrf = sign_in(client)
    # When the operator presses the action on the broken link
    answer = client.post(f"/ops/integrations/{integration['id']}/links/{org}/{action}", data={"csrf_token": csrf})
    assert answer.status_code == 302 and "/ops/events/" in answer.headers["Location"]
    # Then a ledger event does it, and the link is ok again
    event = wait_ledger_event(client, admin, integration, contact_id, after=1)
    assert event["status"] == "succeeded" and event["payload"]["via"] == "ops", event
    link = link_of(client, admin, integration)
    assert link["status"] == "ok" and link["broken_reason"] is None
    if action == "reactivate":
        assert event["outcome"]["action"] == "updated"
        assert link["contact_id"] == contact_id
        assert xero_contact(sandbox, integration, contact_id)["ContactStatus"] == "ACTIVE"
    else:
        assert event["outcome"]["action"] == "created" and link["contact_id"] != contact_id
        assert xero_contact(sandbox, integration, link["contact_id"])["ContactStatus"] == "ACTIVE"
    assert 'id="broken-links"' not in client.get(f"/ops/integrations/{integration['id']}").text


def test_an_unknown_link_action_changes_nothing(client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    integration = _broken(client, admin, sandbox)
    org = integration["organisation"]["id"]
    csrf = sign_in(client)
    answer = client.post(f"/ops/integrations/{integration['id']}/links/{org}/archive", data={"csrf_token": csrf})
    assert answer.status_code in (404, 405)
    # And without the CSRF token nothing happens
    refused = client.post(f"/ops/integrations/{integration['id']}/links/{org}/reactivate")
    assert refused.status_code in (400, 403)
    assert link_of(client, admin, integration)["status"] == "broken"


def test_relink_by_hand_repairs_a_broken_link(client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    integration = _broken(client, admin, sandbox)
    org = integration["organisation"]["id"]
    other_id = sandbox.control("xero", "contacts", tenant=integration["tenant"],
                               contact={"Name": "Relinked Festival Ltd"})["ContactID"]
    csrf = sign_in(client)
    client.post(f"/ops/integrations/{integration['id']}/links",
                data={"csrf_token": csrf, "organisation_id": str(org), "contact_id": other_id})
    link = wait_for(lambda: (row := link_of(client, admin, integration))["contact_id"] == other_id and row)
    assert link["status"] == "ok" and link["broken_reason"] is None


def test_drift_is_shown_on_the_event_page(client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    integration = linked(client, admin, sandbox, "xero", policies={"update_contact_on_edit": False})
    contact_id = integration["contact_id"]
    xero_edit(sandbox, integration, contact_id, {"EmailAddress": "drifted@example.test"})
    xero_delivery(client, integration, [contact_id])
    event = wait_ledger_event(client, admin, integration, contact_id)
    assert event["outcome"]["drift"] == ["email"], event
    sign_in(client)
    page = client.get(f"/ops/events/{event['id']}").text
    drift = re.search(r'id="drift">(.*?)</div>', page, re.S)
    assert drift is not None and '<span class="mono field">email</span>' in drift.group(1)
