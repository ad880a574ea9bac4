"""Bulk export against the sandbox: batches, same-name links, resume after a kill, cancel."""
from __future__ import annotations

import dataclasses
import threading
from typing import Any

import pytest

from core.store import jobs, links
from sandbox import xero as xero_standin
from sandbox.runner import ServerThread
from tests.support import create_integration, wait_for
from tests.workers.bulk.bulk_support import organisation, run_now, writes, xero_contacts
from workers.bulk.jobs import run_job

#: A shortened limit window: the 2,000-organisation test runs under real limits, in seconds.
WINDOW = 2.0


@pytest.fixture
def short_xero(sandbox: Any, rt: Any) -> Any:
    """The sandbox with its own Xero (60 calls per 2 s window) and the runtime's windows shortened."""
    server = ServerThread(xero_standin.create_app(window=WINDOW)).start()
    rt.settings = rt.settings.with_overrides(rate_limit_window_seconds=WINDOW)
    yield dataclasses.replace(sandbox, xero=server.url)
    server.stop()


def test_2000_organisations_reach_xero_in_at_most_45_write_calls(rt, client, admin, short_xero):
    # Given 2,000 active organisations and an empty Xero organisation
    integration = create_integration(client, admin, short_xero, "xero")
    short_xero.control("current_rms", "members/bulk", subdomain=integration["subdomain"], count=2000)
    # When the export runs
    job = run_now(rt, integration["id"], "export")
    # Then every organisation has its own contact, made in batches of 50
    assert (job.status, job.total, job.done, job.failed) == ("succeeded", 2000, 2000, 0), job.errors[-3:]
    puts = writes(short_xero, "xero", "/Contacts")
    assert len(puts) <= 45
    assert all(call["query"].get("summarizeErrors") == "false" for call in puts)
    contacts = xero_contacts(short_xero, integration["tenant"])
    assert len(contacts) == 2000
    assert len(links.all_of(rt.db, integration["id"])) == 2000
    assert job.state["summary"] == {"created": 2000}
    assert short_xero.get("xero", "stats")["refused_429"] == 0


def test_a_second_export_creates_nothing(rt, client, admin, sandbox):
    # Given an export that has already run
    integration = create_integration(client, admin, sandbox, "xero")
    sandbox.control("current_rms", "members/bulk", subdomain=integration["subdomain"], count=60)
    run_now(rt, integration["id"], "export")
    before = len(writes(sandbox, "xero"))
    # When it runs again
    job = run_now(rt, integration["id"], "export")
    # Then every organisation counts as linked already, and no write is made
    assert job.state["summary"] == {"already_linked": 60}
    assert len(writes(sandbox, "xero")) == before
    assert len(xero_contacts(sandbox, integration["tenant"])) == 60


def test_a_name_clash_links_the_existing_contact_with_a_read_not_a_write(rt, client, admin, sandbox):
    # Given an organisation whose name a Xero contact already has
    integration = create_integration(client, admin, sandbox, "xero")
    member = organisation(sandbox, integration["subdomain"], "Existing Hire Co")
    existing = sandbox.control("xero", "contacts", tenant=integration["tenant"],
                               contact={"Name": "Existing Hire Co"})
    # When the export runs
    job = run_now(rt, integration["id"], "export")
    # Then the organisation is linked to that contact; no second contact, no overwrite yet
    link = links.get(rt.db, integration["id"], member["id"])
    assert link is not None and link.contact_id == existing["ContactID"]
    assert link.fields_hash is None
    assert job.state["summary"] == {"linked": 1}
    assert len(xero_contacts(sandbox, integration["tenant"])) == 1
    assert len(writes(sandbox, "xero")) == 1  # the refused batch element, then reads only


def test_a_restart_after_a_killed_batch_adopts_instead_of_creating_twice(rt, client, admin, sandbox):
    # Given a run killed after its batch call landed: markers written, contacts made, no links
    integration = create_integration(client, admin, sandbox, "xero")
    first = organisation(sandbox, integration["subdomain"], "Killed Mid Batch A")
    second = organisation(sandbox, integration["subdomain"], "Killed Mid Batch B")
    for member in (first, second):
        links.put_marker(rt.db, integration["id"], member["id"], member["name"])
    made = sandbox.control("xero", "contacts", tenant=integration["tenant"],
                           contact={"Name": "Killed Mid Batch A"})
    # When the export runs again
    job = run_now(rt, integration["id"], "export")
    # Then A adopts the contact the killed run made and only B is created
    assert links.get(rt.db, integration["id"], first["id"]).contact_id == made["ContactID"]
    assert links.get(rt.db, integration["id"], second["id"]) is not None
    assert job.state["summary"] == {"adopted": 1, "created": 1}
    assert sorted(c["Name"] for c in xero_contacts(sandbox, integration["tenant"])) == [
        "Killed Mid Batch A", "Killed Mid Batch B"]
    assert not links.has_marker(rt.db, integration["id"], first["id"])


def test_a_refused_element_is_reported_and_the_others_are_created(rt, client, admin, sandbox):
    # Given two organisations, one whose account number another Xero contact already uses
    integration = create_integration(client, admin, sandbox, "xero")
    good = organisation(sandbox, integration["subdomain"], "Fine Organisation")
    bad = organisation(sandbox, integration["subdomain"], "Taken Number Ltd")
    sandbox.control("xero", "contacts", tenant=integration["tenant"],
                    contact={"Name": "Someone Else", "AccountNumber": bad["membership"]["number"]})
    # When the export runs
    job = run_now(rt, integration["id"], "export")
    # Then the good one is linked, the other is reported with its reason, in one batch call
    assert links.get(rt.db, integration["id"], good["id"]) is not None
    assert links.get(rt.db, integration["id"], bad["id"]) is None
    assert (job.status, job.done, job.failed) == ("succeeded", 1, 1)
    assert job.errors[0]["organisation_id"] == bad["id"]
    assert "account number" in job.errors[0]["error"]
    assert len(writes(sandbox, "xero")) == 1


def test_quickbooks_batches_are_configurable_and_within_the_batch_limit(rt, client, admin, sandbox):
    # Given 45 organisations and a batch size of 10 asked for
    integration = create_integration(client, admin, sandbox, "quickbooks")
    sandbox.control("current_rms", "members/bulk", subdomain=integration["subdomain"], count=45)
    # When the export runs
    job = run_now(rt, integration["id"], "export", options={"batch_size": 10})
    # Then five batch calls carried them all
    batches = writes(sandbox, "quickbooks", "/batch")
    assert len(batches) == 5
    assert [len(c["json"]["BatchItemRequest"]) for c in batches] == [10, 10, 10, 10, 5]
    assert (job.status, job.done) == ("succeeded", 45)


def test_sage_lists_contacts_once_for_same_name_links_and_creates_one_at_a_time(rt, client, admin, sandbox):
    # Given three organisations, one named like an existing Sage customer
    integration = create_integration(client, admin, sandbox, "sage")
    for name in ("Sage Alpha", "Sage Beta", "Sage Gamma"):
        organisation(sandbox, integration["subdomain"], name)
    existing = sandbox.control("sage", "contacts", tenant=integration["tenant"],
                               contact={"name": "Sage Beta"})
    # When the export runs
    job = run_now(rt, integration["id"], "export")
    # Then Beta is linked to the existing customer and two contacts are created, one call each
    assert job.state["summary"] == {"linked": 1, "created": 2}
    posts = writes(sandbox, "sage", "/contacts")
    assert len(posts) == 2
    linked = [link.contact_id for link in links.all_of(rt.db, integration["id"])]
    assert existing["id"] in linked
    searches = [c for c in sandbox.calls("sage") if c["method"] == "GET" and "search" in c["query"]]
    assert searches == []


def test_cancel_stops_an_export_between_batches(rt, client, admin, sandbox):
    # Given a long export in small batches, running
    integration = create_integration(client, admin, sandbox, "xero")
    sandbox.control("current_rms", "members/bulk", subdomain=integration["subdomain"], count=400)
    job = jobs.create(rt.db, integration["id"], "export", state={"options": {"batch_size": 5}})
    runner = threading.Thread(target=run_job, args=(rt, job.id))
    runner.start()
    wait_for(lambda: jobs.get(rt.db, job.id).done > 0, timeout=20)
    # When a cancel is asked for
    jobs.request_cancel(rt.db, job.id)
    runner.join(timeout=60)
    # Then the job stops, cancelled, with part of the work done
    final = jobs.get(rt.db, job.id)
    assert final.status == "cancelled"
    assert 0 < final.done < 400
    assert len(xero_contacts(sandbox, integration["tenant"])) == final.done
