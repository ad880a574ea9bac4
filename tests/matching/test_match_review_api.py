"""Match review over HTTP (interface §11), a real worker thread and the sandbox, all systems:
start → review full / partial / none → confirm all full → pick one partial."""
from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from core.store import links
from tests.matching.matching_support import KINDS, seed_contact, seed_org, writes
from tests.support import create_integration, running_worker, wait_event, wait_for


@pytest.fixture
def worker(rt: Any) -> Any:
    yield from running_worker(rt)


def review(client: Any, admin: dict[str, str], integration_id: str) -> dict[str, Any]:
    started = client.post(f"/api/integrations/{integration_id}/match", headers=admin)
    assert started.status_code == 202, started.get_json()
    job_id = started.get_json()["job_id"]
    return wait_for(lambda: (j := client.get(f"/api/jobs/{job_id}", headers=admin).get_json())
                    ["status"] in ("succeeded", "failed") and j, what="the match job")


def matches(client: Any, admin: dict[str, str], integration_id: str, kind: str) -> dict[str, Any]:
    answer = client.get(f"/api/integrations/{integration_id}/matches?kind={kind}", headers=admin)
    assert answer.status_code == 200
    return answer.get_json()


@pytest.mark.parametrize("kind", KINDS)
def test_review_then_confirm_all_full_and_pick_a_partial(rt, client, admin, sandbox, worker, kind):
    # Given an integration matching on name, then email, and a ledger a person filled in
    integration = create_integration(client, admin, sandbox, kind,
                                     policies={"match_on": ["name", "email"]})
    iid, tenant, sub = integration["id"], integration["tenant"], integration["subdomain"]
    full_id = seed_contact(sandbox, kind, tenant, "Full Co", "full@acme.test")
    partial_id = seed_contact(sandbox, kind, tenant, "PARTIAL CO ", "someone@else.test")
    twin_ids = {seed_contact(sandbox, kind, tenant, f"Twin {n}", "twins@acme.test") for n in (1, 2)}
    full_org = seed_org(sandbox, sub, "Full Co", "FULL@acme.test")
    partial_org = seed_org(sandbox, sub, "Partial Co", "partial@acme.test")
    twin_org = seed_org(sandbox, sub, "Twin Co", "twins@acme.test")
    lonely_org = seed_org(sandbox, sub, "Lonely Co", "lonely@acme.test")
    before = len(writes(sandbox, kind))

    # When the review runs
    job = review(client, admin, iid)

    # Then it succeeded, wrote nothing to the accounting system, and grouped every organisation
    assert job["status"] == "succeeded", job
    assert len(writes(sandbox, kind)) == before
    full = matches(client, admin, iid, "full")
    assert full["counts"] == {"full": 1, "partial": 2, "none": 1}
    [row] = full["matches"]
    assert (row["organisation_id"], row["organisation_name"]) == (full_org, "Full Co")
    assert [(c["contact_id"], c["matched_on"]) for c in row["candidates"]] == [(full_id, ["name", "email"])]
    assert row["candidates"][0]["name"] == "Full Co" and row["candidates"][0]["url"]
    partial = {m["organisation_id"]: m for m in matches(client, admin, iid, "partial")["matches"]}
    assert [(c["contact_id"], c["matched_on"]) for c in partial[partial_org]["candidates"]] == [
        (partial_id, ["name"])]
    assert {c["contact_id"] for c in partial[twin_org]["candidates"]} == twin_ids
    assert all(c["matched_on"] == ["email"] for c in partial[twin_org]["candidates"])
    assert [m["organisation_id"] for m in matches(client, admin, iid, "none")["matches"]] == [lonely_org]

    # And the CSV download lists one line per candidate, with the links CSV's column
    download = client.get(f"/api/integrations/{iid}/matches.csv", headers=admin)
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert download.data.startswith("\ufeff".encode()) and b"\r\n" in download.data
    table = list(csv.DictReader(io.StringIO(download.data.decode("utf-8-sig"))))
    assert len(table) == 1 + 1 + 2 + 1
    column = {"xero": "Linked Xero contact", "quickbooks": "Linked QuickBooks customer",
              "sage": "Linked Sage contact"}[kind]
    assert {r[column] for r in table if r["Organisation ID"] == str(twin_org)} == twin_ids

    # When all full matches are confirmed, then one partial is picked by hand
    confirmed = client.post(f"/api/integrations/{iid}/matches/confirm", headers=admin,
                            json={"all_full": True})
    picked = client.post(f"/api/integrations/{iid}/matches/confirm", headers=admin,
                         json={"links": [{"organisation_id": partial_org, "contact_id": partial_id}]})

    # Then each is linked as a manual link is, and synced at once (update_contact_on_edit)
    assert confirmed.status_code == 200 and confirmed.get_json() == {"linked": 1, "errors": []}
    assert picked.status_code == 200 and picked.get_json() == {"linked": 1, "errors": []}
    linked = {link.organisation_id: link.contact_id for link in links.all_of(rt.db, iid)}
    assert linked == {full_org: full_id, partial_org: partial_id}
    synced = client.get(f"/api/events?integration={iid}", headers=admin).get_json()["events"]
    assert {e["organisation_id"] for e in synced} == {full_org, partial_org}
    for event in synced:
        done = wait_event(client, admin, event["id"])
        assert done["status"] == "succeeded" and done["outcome"]["overwritten"] is True, done
    assert matches(client, admin, iid, "full")["counts"] == {"full": 0, "partial": 1, "none": 1}


def test_confirm_follows_update_contact_on_edit_and_reports_bad_pairs(rt, client, admin, sandbox, worker):
    # Given update_contact_on_edit off and one full match reviewed
    integration = create_integration(client, admin, sandbox, "xero",
                                     policies={"update_contact_on_edit": False})
    iid, tenant, sub = integration["id"], integration["tenant"], integration["subdomain"]
    contact_id = seed_contact(sandbox, "xero", tenant, "Keep Co", "accountant@keep.test")
    organisation = seed_org(sandbox, sub, "Keep Co", "ops@keep.test")
    other = seed_org(sandbox, sub, "Other Co", "other@keep.test")
    assert review(client, admin, iid)["status"] == "succeeded"
    # When all full are confirmed, and then bad pairs are sent
    confirmed = client.post(f"/api/integrations/{iid}/matches/confirm", headers=admin, json={"all_full": True})
    bad = client.post(f"/api/integrations/{iid}/matches/confirm", headers=admin, json={"links": [
        {"organisation_id": other, "contact_id": contact_id},
        {"organisation_id": other + 1000, "contact_id": "00000000-0000-0000-0000-00000000abcd"},
    ]})
    # Then the link is made, and the contact the accountant kept is not overwritten
    assert confirmed.get_json() == {"linked": 1, "errors": []}
    [event] = client.get(f"/api/events?integration={iid}", headers=admin).get_json()["events"]
    assert wait_event(client, admin, event["id"])["outcome"]["overwritten"] is False
    [stored] = [c for c in sandbox.get("xero", "contacts", tenant=tenant)["Contacts"]
                if c["ContactID"] == contact_id]
    assert stored["EmailAddress"] == "accountant@keep.test"
    # And the bad pairs are reported, naming what is wrong, with nothing linked
    body = bad.get_json()
    assert bad.status_code == 200 and body["linked"] == 0
    reasons = {e["organisation_id"]: e["error"] for e in body["errors"]}
    assert f"organisation {organisation}" in reasons[other]
    assert "no contact" in reasons[other + 1000]
    assert {link.organisation_id for link in links.all_of(rt.db, iid)} == {organisation}


def test_bad_review_requests_are_clear_4xx(client, admin, sandbox):
    integration = create_integration(client, admin, sandbox, "xero")
    iid = integration["id"]
    assert client.get(f"/api/integrations/{iid}/matches?kind=maybe", headers=admin).status_code == 400
    for body in ({}, {"all_full": False}, {"all_full": True, "links": [{"organisation_id": 1, "contact_id": "x"}]},
                 {"links": [{"organisation_id": "1", "contact_id": "x"}]}, {"links": []}):
        answer = client.post(f"/api/integrations/{iid}/matches/confirm", headers=admin, json=body)
        assert answer.status_code == 400, body
    assert client.post(f"/api/integrations/{iid}/match", headers=admin,
                       json={"match_on": ["phone"]}).status_code == 400
    assert client.post("/api/integrations/nope/match", headers=admin).status_code == 404
    assert client.post(f"/api/integrations/{iid}/match").status_code == 401
    refused = client.post("/api/integrations", headers=admin, json={
        **_body_with(sandbox, policies={"match_on": ["name", "name"]})})
    assert refused.status_code == 400 and "match_on" in refused.get_json()["fields"]["policies"]


def _body_with(sandbox: Any, **extra: Any) -> dict[str, Any]:
    from tests.support import integration_body

    return integration_body(sandbox, "xero", **extra)


def test_a_large_confirm_becomes_a_job_that_links_each_pair(rt, client, admin, sandbox, worker):
    # Given a Sage review with 12 full matches: Sage reads one contact per call, so confirming
    # them all needs more look-ups than a request may wait for
    integration = create_integration(client, admin, sandbox, "sage",
                                     policies={"update_contact_on_edit": False})
    iid, tenant, sub = integration["id"], integration["tenant"], integration["subdomain"]
    expected = {}
    for n in range(12):
        contact = seed_contact(sandbox, "sage", tenant, f"Many {n:02d}")
        expected[seed_org(sandbox, sub, f"Many {n:02d}", f"m{n}@many.test")] = contact
    assert review(client, admin, iid)["status"] == "succeeded"
    # When all full matches are confirmed
    answer = client.post(f"/api/integrations/{iid}/matches/confirm", headers=admin, json={"all_full": True})
    # Then the answer is a job, which links each organisation to its contact
    assert answer.status_code == 202, answer.get_json()
    job_id = answer.get_json()["job_id"]
    job = wait_for(lambda: (j := client.get(f"/api/jobs/{job_id}", headers=admin).get_json())
                   ["status"] in ("succeeded", "failed") and j)
    assert (job["status"], job["done"], job["failed"], job["total"]) == ("succeeded", 12, 0, 12), job
    assert {link.organisation_id: link.contact_id for link in links.all_of(rt.db, iid)} == expected
    assert matches(client, admin, iid, "full")["counts"]["full"] == 0


def test_keys_quickbooks_cannot_carry_are_left_out_of_the_review(rt, client, admin, sandbox, worker):
    # Given matching on name and account number, which QuickBooks customers do not have
    integration = create_integration(client, admin, sandbox, "quickbooks",
                                     policies={"match_on": ["name", "account_number"]})
    iid = integration["id"]
    contact = seed_contact(sandbox, "quickbooks", integration["tenant"], "Numbered Co")
    organisation = seed_org(sandbox, integration["subdomain"], "Numbered Co", "n@numbered.test", number="NUM-1")
    # When the review runs
    job = review(client, admin, iid)
    # Then the name alone makes a full match, and the job says which key it left out
    assert job["status"] == "succeeded", job
    [row] = matches(client, admin, iid, "full")["matches"]
    assert (row["organisation_id"], row["candidates"][0]["contact_id"]) == (organisation, contact)
    from core.store import jobs

    assert jobs.get(rt.db, job["id"]).state["ignored_keys"] == ["account_number"]
