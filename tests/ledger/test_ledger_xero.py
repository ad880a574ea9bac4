"""Xero's side over HTTP on real parts: signed webhooks → events → a real worker → effects.

The app, a real Redis, a Dramatiq worker in this process and the sandbox's Xero and rental
system on 127.0.0.1. The Xero stand-in of this branch does not send webhooks yet, so each test
signs the delivery Xero would send (``x-xero-signature``) and posts it to the receiver.
"""
from __future__ import annotations

import json
from typing import Any

import pytest

from core.store import integrations
from tests.ledger.support import (
    WEBHOOK_KEY,
    ledger_events,
    link_of,
    linked,
    sign,
    wait_ledger_event,
    xero_contact,
    xero_delivery,
    xero_edit,
    xero_updated,
    xero_writes,
)
from tests.support import create_integration, running_worker, wait_for


@pytest.fixture
def worker(rt: Any) -> Any:
    yield from running_worker(rt)


def test_a_bad_signature_is_refused_and_nothing_is_stored(client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    integration = linked(client, admin, sandbox, "xero")
    before = client.get(f"/api/events?integration={integration['id']}", headers=admin).get_json()["events"]
    # When a delivery is signed with another key, or not at all
    wrong = xero_delivery(client, integration, [integration["contact_id"]], key="not-the-key")
    body = b'{"events": []}'
    unsigned = client.post(f"/webhooks/xero/{integration['id']}", data=body)
    # Then 401, and no event was recorded
    assert wrong.status_code == 401 and unsigned.status_code == 401
    after = client.get(f"/api/events?integration={integration['id']}", headers=admin).get_json()["events"]
    assert len(after) == len(before)


def test_intent_to_receive(client: Any, admin: Any, sandbox: Any) -> None:
    # Given an integration with a webhook key (no link needed)
    created = create_integration(client, admin, sandbox, "xero")
    client.patch(f"/api/integrations/{created['id']}", json={"provider": {"webhook_key": WEBHOOK_KEY}}, headers=admin)
    body = json.dumps({"events": [], "firstEventSequence": 0, "lastEventSequence": 0,
                       "entropy": "QWERTYUIOPASDFGHJKLZ"}).encode()
    good = client.post(f"/webhooks/xero/{created['id']}", data=body, headers={"x-xero-signature": sign(WEBHOOK_KEY, body)})
    bad = client.post(f"/webhooks/xero/{created['id']}", data=body, headers={"x-xero-signature": sign("other", body)})
    assert (good.status_code, good.data) == (200, b"")
    assert bad.status_code == 401
    assert client.get(f"/api/events?integration={created['id']}", headers=admin).get_json()["events"] == []
    # The key is a secret: never answered
    shown = client.get(f"/api/integrations/{created['id']}", headers=admin).get_data(as_text=True)
    assert WEBHOOK_KEY not in shown


def test_a_hand_edit_is_written_back_with_one_write_and_its_echo_costs_none(
    rt: Any, client: Any, admin: Any, sandbox: Any, worker: Any,
) -> None:
    integration = linked(client, admin, sandbox, "xero")
    contact_id, org = integration["contact_id"], integration["organisation"]
    original = xero_contact(sandbox, integration, contact_id)["EmailAddress"]
    calls = len(sandbox.calls("xero"))
    # Given a person changes the e-mail in Xero
    xero_edit(sandbox, integration, contact_id, {"EmailAddress": "someone.else@example.test"})
    # When Xero's webhook arrives
    assert xero_delivery(client, integration, [contact_id]).status_code == 200
    event = wait_ledger_event(client, admin, integration, contact_id)
    # Then Current RMS wins, with exactly one write
    assert event["status"] == "succeeded", event
    assert event["outcome"]["action"] == "updated" and event["outcome"]["fields"] == ["email"]
    assert event["organisation_id"] == org["id"]
    assert xero_contact(sandbox, integration, contact_id)["EmailAddress"] == original
    assert len(xero_writes(sandbox, calls)) == 1
    # And when Xero reports that write of ours (the echo), nothing is written
    calls = len(sandbox.calls("xero"))
    assert xero_delivery(client, integration, [contact_id]).status_code == 200
    echo = wait_ledger_event(client, admin, integration, contact_id, after=1)
    assert echo["outcome"]["action"] == "none" and "drift" not in echo["outcome"], echo
    assert xero_writes(sandbox, calls) == []
    # And the poll that sees the same changes again records nothing new and writes nothing
    assert client.post(f"/api/integrations/{integration['id']}/ledger-poll", headers=admin).status_code == 202
    wait_for(lambda: (integrations.get(rt.db, integration["id"]).settings or {}).get("ledger_poll"),
             what="the poll to finish")
    assert len([e for e in ledger_events(client, admin, integration)
                if e["payload"]["contact_id"] == contact_id]) == 2
    assert xero_writes(sandbox, calls) == []


def test_a_hand_edit_is_reported_as_drift_when_the_policy_is_off(
    client: Any, admin: Any, sandbox: Any, worker: Any,
) -> None:
    integration = linked(client, admin, sandbox, "xero", policies={"update_contact_on_edit": False})
    contact_id = integration["contact_id"]
    calls = len(sandbox.calls("xero"))
    xero_edit(sandbox, integration, contact_id, {"EmailAddress": "drifted@example.test"})
    xero_delivery(client, integration, [contact_id])
    event = wait_ledger_event(client, admin, integration, contact_id)
    assert event["outcome"]["action"] == "none" and event["outcome"]["drift"] == ["email"], event
    assert xero_writes(sandbox, calls) == []
    # A ledger event replays like any event (through the outbox relay and the sync actor)
    replay = client.post(f"/api/events/{event['id']}/replay", headers=admin)
    assert replay.status_code == 202
    again = wait_for(lambda: (e := client.get(f"/api/events/{event['id']}", headers=admin).get_json())
                     ["attempts"] == 2 and e["status"] == "succeeded" and e)
    assert again["outcome"]["drift"] == ["email"]


def test_a_merge_is_followed_and_the_survivor_gets_the_organisations_fields(
    client: Any, admin: Any, sandbox: Any, worker: Any,
) -> None:
    integration = linked(client, admin, sandbox, "xero")
    contact_id, org = integration["contact_id"], integration["organisation"]
    survivor = sandbox.control("xero", "contacts", tenant=integration["tenant"],
                               contact={"Name": "Someone Merged Into", "EmailAddress": "x@y.test"})
    # When a person merges the linked contact into another in Xero
    sandbox.control("xero", "merge", tenant=integration["tenant"], **{"from": contact_id, "into": survivor["ContactID"]})
    xero_delivery(client, integration, [contact_id])
    event = wait_ledger_event(client, admin, integration, contact_id)
    # Then the link follows it, and the survivor carries the organisation's fields
    assert event["status"] == "succeeded", event
    assert event["outcome"]["action"] == "relinked"
    assert event["outcome"]["previous_contact_id"] == contact_id
    assert event["outcome"]["contact_id"] == survivor["ContactID"]
    assert link_of(client, admin, integration)["contact_id"] == survivor["ContactID"]
    assert xero_contact(sandbox, integration, survivor["ContactID"])["Name"] == org["name"]


def test_a_merge_into_a_contact_linked_elsewhere_fails_naming_both(
    client: Any, admin: Any, sandbox: Any, worker: Any,
) -> None:
    integration = linked(client, admin, sandbox, "xero")
    from tests.support import sample_member, seed_organisation, send_webhook, wait_event

    membership = {**sample_member()["membership"], "number": "OTHER-002"}
    other_org = seed_organisation(sandbox, integration["subdomain"], membership=membership)
    other = wait_event(client, admin, send_webhook(client, integration, other_org["id"], "create").get_json()["event_id"])
    other_contact = other["outcome"]["contact_id"]
    sandbox.control("xero", "merge", tenant=integration["tenant"],
                    **{"from": integration["contact_id"], "into": other_contact})
    xero_delivery(client, integration, [integration["contact_id"]])
    event = wait_ledger_event(client, admin, integration, integration["contact_id"])
    assert event["status"] == "failed", event
    reason = event["outcome"]["reason"]
    assert str(integration["organisation"]["id"]) in reason and str(other_org["id"]) in reason


@pytest.mark.parametrize("policy", ["flag", "reactivate", "recreate"])
def test_an_archive_by_each_policy(client: Any, admin: Any, sandbox: Any, worker: Any, policy: str) -> None:
    integration = linked(client, admin, sandbox, "xero", policies={"on_contact_archived": policy})
    contact_id = integration["contact_id"]
    # When a person archives the linked contact
    sandbox.control("xero", "archive", tenant=integration["tenant"], contact_id=contact_id)
    xero_delivery(client, integration, [contact_id])
    event = wait_ledger_event(client, admin, integration, contact_id)
    assert event["status"] == "succeeded", event
    link = link_of(client, admin, integration)
    if policy == "flag":
        # Then the link is broken, with what to do, and listed as broken
        assert event["outcome"]["action"] == "broken"
        assert link["status"] == "broken" and "reactivate" in link["broken_reason"]
        broken = client.get(f"/api/integrations/{integration['id']}/links?status=broken", headers=admin).get_json()
        assert [row["contact_id"] for row in broken["links"]] == [contact_id]
    elif policy == "reactivate":
        assert event["outcome"]["action"] == "updated"
        assert xero_contact(sandbox, integration, contact_id)["ContactStatus"] == "ACTIVE"
        assert link["status"] == "ok" and link["contact_id"] == contact_id
    else:
        assert event["outcome"]["action"] == "created"
        assert link["status"] == "ok" and link["contact_id"] != contact_id
        assert xero_contact(sandbox, integration, link["contact_id"])["ContactStatus"] == "ACTIVE"
        assert event["outcome"]["previous_contact_id"] == contact_id


def test_a_lost_webhook_is_caught_by_the_next_poll(client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    integration = linked(client, admin, sandbox, "xero", policies={"update_contact_on_edit": False})
    contact_id = integration["contact_id"]
    # Given a hand edit whose webhook never arrives
    xero_edit(sandbox, integration, contact_id, {"EmailAddress": "lost@example.test"})
    # When the ledger poll runs
    answer = client.post(f"/api/integrations/{integration['id']}/ledger-poll", headers=admin)
    assert answer.status_code == 202
    event = wait_ledger_event(client, admin, integration, contact_id)
    # Then the change was caught, and read with If-Modified-Since, archived included
    assert event["payload"]["via"] == "poll" and event["outcome"]["drift"] == ["email"], event
    polls = [c for c in sandbox.calls("xero") if c["method"] == "GET" and c["path"].endswith("/Contacts")
             and "If-Modified-Since" in c["headers"]]
    assert polls and polls[0]["query"].get("includeArchived") == "true"
    # And the same change delivered late by the webhook is the same one event
    stamp = xero_updated(xero_contact(sandbox, integration, contact_id))
    assert xero_delivery(client, integration, [contact_id], event_date=stamp).status_code == 200
    assert len([e for e in ledger_events(client, admin, integration)
                if e["payload"]["contact_id"] == contact_id]) == 1
