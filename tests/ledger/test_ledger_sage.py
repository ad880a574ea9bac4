"""Sage's side over HTTP on real parts: Sage has no webhooks, so the ledger poll (and link
verification) is how a change made there is learnt; a real worker applies it."""
from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.ledger.support import (
    ledger_events,
    link_of,
    linked,
    poll_now,
    sage_api,
    sage_contact,
    sage_edit,
    sage_writes,
    wait_ledger_event,
)
from tests.support import running_worker, sample_member, wait_for


@pytest.fixture
def worker(rt: Any) -> Any:
    yield from running_worker(rt)


def test_a_hand_edit_is_caught_by_the_poll_and_written_back_once(
    client: Any, admin: Any, sandbox: Any, worker: Any,
) -> None:
    integration = linked(client, admin, sandbox, "sage")
    contact_id, org = integration["contact_id"], integration["organisation"]
    calls = len(sandbox.calls("sage"))
    sage_edit(sandbox, integration, contact_id, {"name": "Renamed By Hand"})
    poll_now(client, admin, integration)
    event = wait_ledger_event(client, admin, integration, contact_id)
    assert event["status"] == "succeeded", event
    assert event["outcome"]["action"] == "updated" and event["outcome"]["fields"] == ["name"]
    assert sage_contact(sandbox, integration, contact_id)["name"] == org["name"]
    assert len(sage_writes(sandbox, calls)) == 1
    # The next poll sees our own write: an echo (or, stamped in the edit's second, the same
    # change again: Sage stamps to the second), and no write either way
    calls = len(sandbox.calls("sage"))
    poll_now(client, admin, integration)
    wait_for(lambda: [c for c in sandbox.calls("sage")[calls:] if "deleted_since" in c["query"]],
             what="the second poll")
    wait_for(lambda: all(e["status"] in ("succeeded", "skipped") for e in ledger_events(client, admin, integration)))
    later = [e for e in ledger_events(client, admin, integration) if e["payload"]["contact_id"] == contact_id][:-1]
    assert all(e["outcome"]["action"] == "none" for e in later), later
    assert sage_writes(sandbox, calls) == []
    # And a poll that finds nothing new records nothing
    before = len(ledger_events(client, admin, integration))
    calls = len(sandbox.calls("sage"))
    poll_now(client, admin, integration)
    wait_for(lambda: [c for c in sandbox.calls("sage")[calls:] if "deleted_since" in c["query"]])
    assert len(ledger_events(client, admin, integration)) == before


def test_a_hand_edit_is_drift_when_the_policy_is_off(client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    integration = linked(client, admin, sandbox, "sage", policies={"update_contact_on_edit": False})
    contact_id = integration["contact_id"]
    calls = len(sandbox.calls("sage"))
    sage_edit(sandbox, integration, contact_id, {"name": "Drifted Name"})
    poll_now(client, admin, integration)
    event = wait_ledger_event(client, admin, integration, contact_id)
    assert event["outcome"]["drift"] == ["name"], event
    assert sage_writes(sandbox, calls) == []


@pytest.mark.parametrize("policy", ["flag", "reactivate", "recreate"])
def test_an_inactive_contact_by_each_policy(client: Any, admin: Any, sandbox: Any, worker: Any, policy: str) -> None:
    # Sage keeps a reference (account number) unique among inactive contacts too: a contact
    # can be recreated only for an organisation without one (the README says so)
    membership = {**sample_member()["membership"], "number": ""}
    integration = linked(client, admin, sandbox, "sage", policies={"on_contact_archived": policy},
                         organisation_changes={"membership": membership})
    contact_id = integration["contact_id"]
    answer = requests.patch(f"{sandbox.sage}/_sandbox/contacts/{contact_id}", json={"is_active": False}, timeout=5)
    assert answer.status_code == 200
    # The stand-in's inactivation does not move updated_at: verification finds it
    assert client.post(f"/api/integrations/{integration['id']}/verify-links", headers=admin).status_code == 202
    event = wait_ledger_event(client, admin, integration, contact_id)
    assert event["status"] == "succeeded", event
    link = link_of(client, admin, integration)
    if policy == "recreate":
        assert event["outcome"]["action"] == "created" and link["contact_id"] != contact_id
        assert link["status"] == "ok"
    else:
        # Sage offers no call that makes a contact active again (is_active is read-only): the
        # reactivate policy flags the link instead, and says why
        assert event["outcome"]["action"] == "broken" and link["status"] == "broken"
        if policy == "reactivate":
            assert "no way to restore" in link["broken_reason"]


def test_a_deleted_contact_is_found_by_verification(client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    integration = linked(client, admin, sandbox, "sage")
    contact_id = integration["contact_id"]
    base, headers = sage_api(sandbox, integration)
    assert requests.delete(f"{base}/contacts/{contact_id}", headers=headers, timeout=5).status_code == 204
    job = client.post(f"/api/integrations/{integration['id']}/verify-links", headers=admin).get_json()
    done = wait_for(lambda: (j := client.get(f"/api/jobs/{job['job_id']}", headers=admin).get_json())
                    ["status"] == "succeeded" and j)
    assert done["total"] == 1 and done["done"] == 1
    event = wait_ledger_event(client, admin, integration, contact_id)
    assert event["outcome"]["action"] == "broken"
    broken = client.get(f"/api/integrations/{integration['id']}/links?status=broken", headers=admin).get_json()["links"]
    assert [row["contact_id"] for row in broken] == [contact_id]


def test_recreate_refused_by_a_taken_account_number_says_what_to_do(
    client: Any, admin: Any, sandbox: Any, worker: Any,
) -> None:
    integration = linked(client, admin, sandbox, "sage", policies={"on_contact_archived": "recreate"})
    contact_id = integration["contact_id"]
    requests.patch(f"{sandbox.sage}/_sandbox/contacts/{contact_id}", json={"is_active": False}, timeout=5)
    client.post(f"/api/integrations/{integration['id']}/verify-links", headers=admin)
    event = wait_ledger_event(client, admin, integration, contact_id)
    assert event["status"] == "failed"
    assert "could not be recreated" in event["outcome"]["reason"] and "relink" in event["outcome"]["reason"]


def test_the_polls_sight_of_our_own_write_costs_no_call_and_records_nothing(
    client: Any, admin: Any, sandbox: Any, worker: Any,
) -> None:
    """Sage has no webhooks: its echo is our own write seen by the poll, which lists contacts in
    full. A contact listed exactly as we wrote it is neither read again nor made an event
    (before: an event and a ``GET /contacts/<id>`` each)."""
    integration = linked(client, admin, sandbox, "sage")
    contact_id = integration["contact_id"]
    before = len(ledger_events(client, admin, integration))
    calls = len(sandbox.calls("sage"))
    # When the poll lists the contact our create made (created since its watermark)
    poll_now(client, admin, integration)
    wait_for(lambda: [c for c in sandbox.calls("sage")[calls:] if "deleted_since" in c["query"]],
             what="the poll")
    assert [c for c in sandbox.calls("sage")[calls:] if "updated_or_created_since" in c["query"]]
    # Then it records nothing and reads nothing more
    assert len(ledger_events(client, admin, integration)) == before
    reads = [c for c in sandbox.calls("sage")[calls:] if c["path"].endswith(f"/contacts/{contact_id}")]
    assert reads == [] and sage_writes(sandbox, calls) == []
    # While a hand edit the next poll lists is still an event, written back once
    sage_edit(sandbox, integration, contact_id, {"name": "Renamed By Hand"})
    calls = len(sandbox.calls("sage"))
    poll_now(client, admin, integration)
    event = wait_ledger_event(client, admin, integration, contact_id)
    assert event["outcome"]["action"] == "updated" and len(sage_writes(sandbox, calls)) == 1
