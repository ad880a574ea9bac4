"""Bulk import against the sandbox: new linked organisations, updates, no echo, resume."""
from __future__ import annotations

from typing import Any

import pytest

from core.models import Contact
from core.store import jobs, links
from core.store.links import LinkWrite
from tests.support import create_integration, running_worker, send_webhook, wait_event
from tests.workers.bulk.bulk_support import organisation, run_now, writes
from workers.bulk.jobs import run_job


@pytest.fixture
def worker(rt: Any) -> Any:
    yield from running_worker(rt)


def members(sandbox: Any, subdomain: str) -> list[dict[str, Any]]:
    return sandbox.get("current_rms", "members", subdomain=subdomain)["members"]


def seed_contact(sandbox: Any, tenant: str, name: str, email: str) -> dict[str, Any]:
    return sandbox.control("xero", "contacts", tenant=tenant,
                           contact={"Name": name, "EmailAddress": email})


def test_every_unlinked_contact_becomes_a_linked_organisation(rt, client, admin, sandbox):
    # Given two active Xero contacts and one archived
    integration = create_integration(client, admin, sandbox, "xero")
    tenant = integration["tenant"]
    first = seed_contact(sandbox, tenant, "Imported One", "one@example.com")
    second = seed_contact(sandbox, tenant, "Imported Two", "two@example.com")
    gone = seed_contact(sandbox, tenant, "Archived Three", "three@example.com")
    sandbox.control("xero", "archive", tenant=tenant, contact_id=gone["ContactID"])
    # When the import runs
    job = run_now(rt, integration["id"], "import")
    # Then two organisations exist, each linked to its contact, with the contact's fields
    assert (job.status, job.done, job.failed) == ("succeeded", 2, 0)
    assert job.state["summary"] == {"created": 2}
    created = {m["name"]: m for m in members(sandbox, integration["subdomain"])}
    assert set(created) == {"Imported One", "Imported Two"}
    assert created["Imported One"]["emails"][0]["address"] == "one@example.com"
    for contact in (first, second):
        link = links.by_contact(rt.db, integration["id"], contact["ContactID"])
        assert link is not None and created[contact["Name"]]["id"] == link.organisation_id
    assert writes(sandbox, "xero") == []


def test_linked_organisations_are_updated_from_their_contacts(rt, client, admin, sandbox):
    # Given an organisation linked to a contact whose e-mail has changed in Xero
    integration = create_integration(client, admin, sandbox, "xero")
    member = organisation(sandbox, integration["subdomain"], "Linked Already")
    contact = seed_contact(sandbox, integration["tenant"], "Linked Already", "new@example.com")
    links.save(rt.db, LinkWrite(integration["id"], member["id"], member["name"],
                                Contact(id=contact["ContactID"], name="Linked Already"), None))
    # When the import runs
    job = run_now(rt, integration["id"], "import")
    # Then the organisation carries the contact's e-mail, and no new organisation was made
    assert job.state["summary"] == {"updated": 1}
    [only] = members(sandbox, integration["subdomain"])
    assert only["id"] == member["id"]
    assert [e["address"] for e in only["emails"]] == ["new@example.com"]
    # And the link's digest is that of the organisation as written, so its webhook is silent
    assert links.get(rt.db, integration["id"], member["id"]).fields_hash is not None


def test_the_webhooks_of_imported_organisations_make_no_call(rt, client, admin, sandbox, worker):
    # Given an import that created one organisation and updated another
    integration = create_integration(client, admin, sandbox, "xero", policies={
        "create_contact_on_create": True, "update_contact_on_edit": True})
    member = organisation(sandbox, integration["subdomain"], "Edited By Import")
    contact = seed_contact(sandbox, integration["tenant"], "Edited By Import", "edit@example.com")
    links.save(rt.db, LinkWrite(integration["id"], member["id"], member["name"],
                                Contact(id=contact["ContactID"], name="Edited By Import"), None))
    seed_contact(sandbox, integration["tenant"], "Fresh From Xero", "fresh@example.com")
    run_now(rt, integration["id"], "import")
    fresh = next(m for m in members(sandbox, integration["subdomain"]) if m["name"] == "Fresh From Xero")
    xero_calls_before = len(sandbox.calls("xero"))
    # When the rental system answers with member_create and member_update webhooks
    created = send_webhook(client, integration, fresh["id"], "create").get_json()
    updated = send_webhook(client, integration, member["id"], "update").get_json()
    # Then both syncs find the link and nothing changed: no contact, no write, not even a read
    for answer in (created, updated):
        event = wait_event(client, admin, answer["event_id"])
        assert event["status"] == "succeeded"
        assert event["outcome"]["action"] == "none"
    assert len(sandbox.calls("xero")) == xero_calls_before
    assert len(links.all_of(rt.db, integration["id"])) == 2


def test_a_restart_adopts_the_organisation_a_killed_run_created(rt, client, admin, sandbox):
    # Given a run killed after POST /members returned but before the link was stored
    integration = create_integration(client, admin, sandbox, "xero")
    contact = seed_contact(sandbox, integration["tenant"], "Half Imported", "half@example.com")
    orphan = organisation(sandbox, integration["subdomain"], "Half Imported")
    job = jobs.create(rt.db, integration["id"], "import", state={
        "pending": {"contact_id": contact["ContactID"], "name": "Half Imported"}})
    # When the job runs again
    run_job(rt, job.id)
    # Then the organisation is adopted and linked; no second one is created
    final = jobs.get(rt.db, job.id)
    assert final.state["summary"] == {"adopted": 1}
    assert [m["id"] for m in members(sandbox, integration["subdomain"])] == [orphan["id"]]
    assert links.get(rt.db, integration["id"], orphan["id"]).contact_id == contact["ContactID"]
    assert final.state["pending"] is None


def test_a_resumed_import_skips_the_contacts_it_handled(rt, client, admin, sandbox):
    # Given an import that handled its first contact and then stopped
    integration = create_integration(client, admin, sandbox, "xero")
    for n in range(3):
        seed_contact(sandbox, integration["tenant"], f"Resume {n}", f"r{n}@example.com")
    job = run_now(rt, integration["id"], "import")
    assert job.done == 3
    resumed = jobs.create(rt.db, integration["id"], "import", state={"position": 3})
    posts_before = len(writes(sandbox, "current_rms"))
    # When a job resumes past them
    run_job(rt, resumed.id)
    # Then nothing is read from or written to the rental system again
    assert len(writes(sandbox, "current_rms")) == posts_before
    assert jobs.get(rt.db, resumed.id).status == "succeeded"
