"""The echo of the service's own write costs no call (interface §10), end to end over HTTP.

The service is served on a real port; the Xero and QuickBooks stand-ins send their own signed
webhooks to it (stamped with the contact's own ``UpdatedDateUTC`` / ``LastUpdatedTime``, as
the service's echo check assumes); a real worker runs each change. The calls are counted in
the stand-in's own request log: after our write, its webhook costs none, while a hand edit
costs its one read and its one write-back (and that write-back's echo none again).
"""
from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from core.store import links
from sandbox.runner import ServerThread
from tests.ledger.support import (
    VERIFIER_TOKEN,
    WEBHOOK_KEY,
    intuit_delivery,
    ledger_events,
    linked,
    qb_customer,
    wait_ledger_event,
    xero_contact,
)
from tests.support import edit_organisation, running_worker, send_webhook, wait_event, wait_for


@pytest.fixture
def served(app: Any) -> Any:
    with ServerThread(app) as server:
        yield server.url


@pytest.fixture
def worker(rt: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN", VERIFIER_TOKEN)
    yield from running_worker(rt)


def subscribe(sandbox: Any, served: str, kind: str, integration: dict[str, Any]) -> None:
    if kind == "xero":
        sandbox.control("xero", "webhooks", url=f"{served}/webhooks/xero/{integration['id']}",
                        key=WEBHOOK_KEY, tenant=integration["tenant"])
    else:
        sandbox.control("quickbooks", "webhooks", url=f"{served}/webhooks/quickbooks",
                        verifier_token=VERIFIER_TOKEN, realm=integration["tenant"])


def api_calls(sandbox: Any, kind: str, since: int = 0) -> list[dict[str, Any]]:
    """Every request the service made to the stand-in (control routes are never logged)."""
    return sandbox.calls(kind)[since:]


def is_write(kind: str, call: dict[str, Any]) -> bool:
    if kind == "xero":
        return call["method"] in ("POST", "PUT") and "/Contacts" in call["path"]
    return call["method"] == "POST" and call["path"].endswith("/customer")


def contact_name(sandbox: Any, kind: str, integration: dict[str, Any], contact_id: str) -> str:
    if kind == "xero":
        return str(xero_contact(sandbox, integration, contact_id)["Name"])
    return str(qb_customer(sandbox, integration, contact_id)["DisplayName"])


def hand_edit(sandbox: Any, kind: str, integration: dict[str, Any], contact_id: str, name: str) -> None:
    """A person renames the contact in the accounting system's web app (its webhook follows)."""
    if kind == "xero":
        sandbox.control("xero", f"contacts/{contact_id}", tenant=integration["tenant"], Name=name)
    else:
        answer = requests.patch(f"{sandbox.quickbooks}/_sandbox/contacts/{contact_id}",
                                json={"tenant": integration["tenant"], "DisplayName": name}, timeout=5)
        assert answer.status_code == 200, answer.text


def delivered(sandbox: Any, kind: str, count: int) -> bool:
    deliveries = sandbox.get(kind, "webhooks")["deliveries"]
    return len(deliveries) >= count and all(d["state"] == "delivered" for d in deliveries)


@pytest.mark.parametrize("kind", ["xero", "quickbooks"])
def test_our_own_writes_webhook_costs_no_call_and_a_hand_edit_one_read_and_one_write(
    client: Any, admin: Any, sandbox: Any, served: str, worker: Any, kind: str,
) -> None:
    integration = linked(client, admin, sandbox, kind)
    contact_id, org = integration["contact_id"], integration["organisation"]
    subscribe(sandbox, served, kind, integration)

    # Given the service overwrites the contact after an edit in the rental system
    renamed = f"Renamed {uuid.uuid4().hex[:6]}"
    edit_organisation(sandbox, integration["subdomain"], org["id"], {"name": renamed})
    mark = len(api_calls(sandbox, kind))
    sync = wait_event(client, admin, send_webhook(client, integration, org["id"]).get_json()["event_id"])
    assert sync["status"] == "succeeded" and sync["outcome"]["action"] == "updated", sync
    ours = [i for i, c in enumerate(api_calls(sandbox, kind, mark)) if is_write(kind, c)]
    assert len(ours) == 1, api_calls(sandbox, kind, mark)
    after_write = mark + ours[0] + 1

    # When the accounting system sends the webhook of that write of ours
    wait_for(lambda: delivered(sandbox, kind, 1), what="the webhook of our write")
    echo = wait_ledger_event(client, admin, integration, contact_id)

    # Then it is recorded and finished as the echo, with no call at all to the accounting system
    assert echo["status"] == "succeeded" and echo["payload"]["via"] == "webhook", echo
    assert echo["outcome"]["action"] == "none" and "drift" not in echo["outcome"], echo
    assert "echo" in echo["outcome"]["reason"], echo
    assert api_calls(sandbox, kind, after_write) == []

    # When a person renames the contact there (its webhook follows)
    before_edit = len(api_calls(sandbox, kind))
    hand_edit(sandbox, kind, integration, contact_id, f"Hand {uuid.uuid4().hex[:6]}")
    # (the hand edit's webhook, then the webhook of our write-back: three deliveries in all)
    wait_for(lambda: delivered(sandbox, kind, 3), what="the webhooks of the edit and the write-back")
    wait_ledger_event(client, admin, integration, contact_id, after=2)
    first, edit, last = reversed([e for e in ledger_events(client, admin, integration)
                                  if e["payload"]["contact_id"] == contact_id])
    assert first["id"] == echo["id"]

    # Then Current RMS wins: one read of the contact and one write-back, nothing else
    assert edit["outcome"]["action"] == "updated" and edit["outcome"]["fields"] == ["name"], edit
    assert contact_name(sandbox, kind, integration, contact_id) == renamed
    calls = api_calls(sandbox, kind, before_edit)
    writes = [c for c in calls if is_write(kind, c)]
    reads = [c for c in calls if c["method"] == "GET"]
    assert (len(reads), len(writes), len(calls)) == (1, 1, 2), calls

    # And the webhook of that write-back is its echo: no call again
    assert last["outcome"]["action"] == "none" and "echo" in last["outcome"]["reason"], last
    assert last["payload"]["changed_at"] > edit["payload"]["changed_at"]


def test_a_webhook_stamped_otherwise_is_read_and_compared(
    client: Any, admin: Any, sandbox: Any, served: str, worker: Any,
) -> None:
    """The fallback: a change whose stamp is not our write's (here Xero's webhook of a hand
    edit that changed nothing mapped) is read once, and nothing is written."""
    integration = linked(client, admin, sandbox, "xero")
    contact_id = integration["contact_id"]
    subscribe(sandbox, served, "xero", integration)
    mark = len(api_calls(sandbox, "xero"))
    # A person sets a field this service does not map (the website)
    sandbox.control("xero", f"contacts/{contact_id}", tenant=integration["tenant"],
                    Website="https://unmapped.example.test")
    event = wait_ledger_event(client, admin, integration, contact_id)
    assert event["outcome"]["action"] == "none" and event["outcome"]["reason"] is None, event
    calls = api_calls(sandbox, "xero", mark)
    assert [c["method"] for c in calls] == ["GET"], calls


@pytest.mark.parametrize("poll_runs", [True, False])
def test_a_quickbooks_stamp_to_the_second_is_an_echo_only_while_the_poll_backs_it(
    client: Any, admin: Any, sandbox: Any, worker: Any, rt: Any, monkeypatch: pytest.MonkeyPatch,
    poll_runs: bool,
) -> None:
    """Intuit documents ``LastUpdatedTime`` to the second, which cannot tell our write from a
    hand edit made within the same second. Played here: the contact is edited by hand, and a
    notification arrives stamped with our write's own second. While the ledger poll runs, that
    notification costs no call, and the poll (which compares the fields) catches the edit; with
    the poll off, it is read at once."""
    if not poll_runs:
        monkeypatch.setenv("LEDGER_POLL_INTERVAL_SECONDS", "0")
    sandbox.control("quickbooks", "clock", shift_seconds=0, to_the_second=True)
    integration = linked(client, admin, sandbox, "quickbooks")
    contact_id, org = integration["contact_id"], integration["organisation"]
    written = links.by_contact(rt.db, integration["id"], contact_id).last_written_stamp
    assert written is not None and written.microsecond == 0
    hand_edit(sandbox, "quickbooks", integration, contact_id, f"Hand {uuid.uuid4().hex[:6]}")

    mark = len(api_calls(sandbox, "quickbooks"))
    stamp = written.strftime("%Y-%m-%dT%H:%M:%SZ")
    entity = {"name": "Customer", "id": contact_id, "operation": "Update", "lastUpdated": stamp}
    assert intuit_delivery(client, integration["tenant"], [entity]).status_code == 200
    event = wait_ledger_event(client, admin, integration, contact_id)
    if not poll_runs:
        # Read once, found edited, written back: Current RMS wins
        assert event["outcome"]["action"] == "updated", event
        assert [c["method"] for c in api_calls(sandbox, "quickbooks", mark)] == ["GET", "POST"]
        return
    assert event["outcome"]["action"] == "none" and "echo" in event["outcome"]["reason"], event
    assert api_calls(sandbox, "quickbooks", mark) == []
    # The next poll lists the contact in full and finds it differs from our write: written back
    assert client.post(f"/api/integrations/{integration['id']}/ledger-poll", headers=admin).status_code == 202
    caught = wait_ledger_event(client, admin, integration, contact_id, after=1)
    assert caught["payload"]["via"] == "poll" and caught["outcome"]["action"] == "updated", caught
    assert contact_name(sandbox, "quickbooks", integration, contact_id) == org["name"]
