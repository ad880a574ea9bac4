"""Several contacts with the organisation's name: the service never guesses (interface §11). The
event fails naming each candidate with its web link, and nothing is linked or created. Only
Sage keeps duplicate names (Xero and QuickBooks refuse them), so only Sage can have several;
the live sync (``match_on: ["name"]``, the default) and the bulk export (its name index) are
both shown, over HTTP with a real worker and the sandbox."""
from __future__ import annotations

from typing import Any

import pytest

from core.store import links
from tests.matching.matching_support import seed_contact, seed_org, writes
from tests.support import create_integration, running_worker, seed_organisation, send_webhook, wait_event, wait_for


@pytest.fixture
def worker(rt: Any) -> Any:
    yield from running_worker(rt)


def _twins(sandbox: Any, integration: dict[str, Any], name: str) -> list[str]:
    return [seed_contact(sandbox, "sage", integration["tenant"], name, email=f"{n}@twins.test")
            for n in ("first", "second")]


def _names_both(reason: str, twins: list[str]) -> None:
    for contact_id in twins:
        assert contact_id in reason, reason
    assert reason.count("https://") >= 2, reason  # each with its web link


@pytest.mark.parametrize("match_on", [None, ["name"], ["email", "name"]])
def test_a_live_sync_fails_naming_every_same_name_contact(
        rt: Any, client: Any, admin: Any, sandbox: Any, worker: Any, match_on: list[str] | None) -> None:
    # Given two Sage contacts named as the organisation (and neither with its email)
    policies = {"match_on": match_on} if match_on else {}
    integration = create_integration(client, admin, sandbox, "sage", policies=policies)
    twins = _twins(sandbox, integration, "Twin Hire Ltd")
    organisation_id = seed_org(sandbox, integration["subdomain"], "Twin Hire Ltd", "ops@twin-hire.test")
    # When the organisation is created
    answer = send_webhook(client, integration, organisation_id, "create")
    event = wait_event(client, admin, answer.get_json()["event_id"])
    # Then the event fails naming both, with their links; nothing is linked, written or created
    assert event["status"] == "failed", event
    _names_both(event["outcome"]["reason"], twins)
    assert links.get(rt.db, integration["id"], organisation_id) is None
    assert writes(sandbox, "sage") == []


def test_a_bulk_export_fails_the_organisation_naming_every_same_name_contact(
        rt: Any, client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    # Given two same-name Sage contacts, and a second organisation with a name of its own
    integration = create_integration(client, admin, sandbox, "sage")
    twins = _twins(sandbox, integration, "Twin Export Ltd")
    twin_org = seed_org(sandbox, integration["subdomain"], "Twin Export Ltd", "ops@twin-export.test")
    single_org = seed_org(sandbox, integration["subdomain"], "Single Export Ltd", "ops@single.test")
    # When an export runs
    started = client.post(f"/api/integrations/{integration['id']}/export", headers=admin)
    assert started.status_code == 202, started.get_json()
    job_id = started.get_json()["job_id"]
    job = wait_for(lambda: (j := client.get(f"/api/jobs/{job_id}", headers=admin).get_json())["status"]
                   in ("succeeded", "failed") and j, timeout=30)
    # Then the twin's organisation fails naming both contacts; the other is created as usual
    assert (job["done"], job["failed"]) == (1, 1), job
    [error] = job["errors"]
    assert error["organisation_id"] == twin_org
    _names_both(error["error"], twins)
    assert links.get(rt.db, integration["id"], twin_org) is None
    assert links.get(rt.db, integration["id"], single_org) is not None


def test_linked_contact_field_naming_a_name_two_contacts_carry_fails_naming_both(
        rt: Any, client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    """The organisation names its contact by name (``linked_contact_field``): in Sage that name
    may be carried twice, and then neither is taken."""
    integration = create_integration(client, admin, sandbox, "sage")
    twins = _twins(sandbox, integration, "Named Twin Ltd")
    organisation = seed_organisation(sandbox, integration["subdomain"], name="Organisation Of Its Own",
                                     membership={"number": "NT-1", "tax_number": ""},
                                     custom_fields={"linked_contact": "Named Twin Ltd"})
    answer = send_webhook(client, integration, organisation["id"], "create")
    event = wait_event(client, admin, answer.get_json()["event_id"])
    assert event["status"] == "failed", event
    _names_both(event["outcome"]["reason"], twins)
    assert links.get(rt.db, integration["id"], organisation["id"]) is None
    assert writes(sandbox, "sage") == []
