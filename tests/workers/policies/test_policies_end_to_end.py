"""Every policy through the real path: webhook → worker → sandbox accounting system → link.

Xero and Sage differ in how they meet an existing same-name contact (Xero refuses duplicate
names, so the service creates first and looks up on the clash; Sage accepts duplicates, so
it searches first): the call sequence at each sandbox is asserted.
"""
from __future__ import annotations

import uuid
from typing import Any, Iterator

import pytest
import requests

from core.store import links
from sandbox.runner import ServerThread
from tests.support import (
    create_integration,
    edit_organisation,
    running_worker,
    seed_organisation,
    send_webhook,
    wait_event,
    wait_for,
)

KINDS = ["xero", "sage"]
#: Where each sandbox serves its contacts API.
CONTACTS_PATH = {"xero": "/api.xro/2.0/Contacts", "sage": "/v3.1/contacts"}
ID_KEY = {"xero": "ContactID", "sage": "id"}


@pytest.fixture
def worker(rt: Any) -> Iterator[Any]:
    yield from running_worker(rt)


# --- helpers -------------------------------------------------------------------------------


def contact_calls(sandbox: Any, kind: str) -> list[tuple[str, str]]:
    """(method, path after the contacts base) of every contacts call the sandbox received."""
    base = CONTACTS_PATH[kind]
    return [(c["method"], c["path"][len(base):]) for c in sandbox.calls(kind) if c["path"].startswith(base)]


def writes(calls: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [call for call in calls if call[0] in ("POST", "PUT", "DELETE")]


def sandbox_contacts(sandbox: Any, kind: str, tenant: str) -> list[dict[str, Any]]:
    answer = sandbox.get(kind, "contacts", tenant=tenant)
    return answer["Contacts" if kind == "xero" else "contacts"]


def contact_name(kind: str, contact: dict[str, Any]) -> str:
    return contact["Name" if kind == "xero" else "name"]


def seed_contact(sandbox: Any, kind: str, tenant: str, name: str, **extra: Any) -> str:
    if kind == "xero":
        contact = sandbox.control("xero", "contacts", tenant=tenant,
                                  contact={"Name": name, "ContactStatus": "ACTIVE", **extra})
    else:
        contact = sandbox.control("sage", "contacts", tenant=tenant, contact={"name": name, **extra})
    return str(contact[ID_KEY[kind]])


def synced(client: Any, admin: Any, integration: Any, member_id: int, action_type: str = "update") -> dict[str, Any]:
    response = send_webhook(client, integration, member_id, action_type)
    assert response.status_code == 202, response.get_json()
    event_id = response.get_json()["event_id"]
    try:
        return wait_event(client, admin, event_id)
    except AssertionError as error:
        raise AssertionError(
            f"event not finished: {client.get(f'/api/events/{event_id}', headers=admin).get_json()}") from error


def patch_policies(client: Any, admin: Any, integration: Any, **policies: Any) -> None:
    response = client.patch(f"/api/integrations/{integration['id']}", json={"policies": policies}, headers=admin)
    assert response.status_code == 200, response.get_json()


def linked_contact(rt: Any, integration: Any, member_id: int) -> str | None:
    link = links.get(rt.db, integration["id"], member_id)
    return link.contact_id if link else None


# --- create_contact_on_create, update_contact_on_edit, create_contact_on_edit_if_unlinked --------


@pytest.mark.parametrize("kind", KINDS)
def test_create_policy_off_makes_no_contact(kind: str, client: Any, admin: Any, sandbox: Any, rt: Any, worker: Any) -> None:
    # Given an integration that does not create contacts on create
    integration = create_integration(client, admin, sandbox, kind, policies={"create_contact_on_create": False})
    member = seed_organisation(sandbox, integration["subdomain"])
    # When the organisation is created
    event = synced(client, admin, integration, member["id"], "create")
    # Then nothing is written: no contact, no link
    assert event["status"] == "succeeded"
    assert event["outcome"] == {"action": "none", "contact_id": None, "overwritten": False, "reason": None}
    assert writes(contact_calls(sandbox, kind)) == []
    assert sandbox_contacts(sandbox, kind, integration["tenant"]) == []
    assert linked_contact(rt, integration, member["id"]) is None


@pytest.mark.parametrize("kind", KINDS)
def test_edit_policy_off_writes_nothing(kind: str, client: Any, admin: Any, sandbox: Any, rt: Any, worker: Any) -> None:
    # Given a linked organisation
    integration = create_integration(client, admin, sandbox, kind)
    member = seed_organisation(sandbox, integration["subdomain"])
    created = synced(client, admin, integration, member["id"], "create")
    assert created["outcome"]["action"] == "created", created
    # When editing is turned off and the organisation is renamed
    patch_policies(client, admin, integration, update_contact_on_edit=False)
    writes_before = writes(contact_calls(sandbox, kind))
    edit_organisation(sandbox, integration["subdomain"], member["id"], {"name": member["name"] + " Renamed"})
    event = synced(client, admin, integration, member["id"])
    # Then the contact is left as it was, with no write call
    assert event["outcome"]["action"] == "none", event
    assert writes(contact_calls(sandbox, kind)) == writes_before
    names = [contact_name(kind, c) for c in sandbox_contacts(sandbox, kind, integration["tenant"])]
    assert names == [member["name"]]

    # When it is turned back on, the same edit is written (so the policy was what stopped it)
    patch_policies(client, admin, integration, update_contact_on_edit=True)
    again = synced(client, admin, integration, member["id"])
    assert again["outcome"]["action"] == "updated", again
    names = [contact_name(kind, c) for c in sandbox_contacts(sandbox, kind, integration["tenant"])]
    assert names == [member["name"] + " Renamed"]


@pytest.mark.parametrize("kind", KINDS)
def test_edit_if_unlinked_heals_a_lost_create(kind: str, client: Any, admin: Any, sandbox: Any, rt: Any, worker: Any) -> None:
    # Given an organisation whose create event never arrived
    integration = create_integration(client, admin, sandbox, kind)
    member = seed_organisation(sandbox, integration["subdomain"])
    # When it is edited with the healing policy off (the default)
    off = synced(client, admin, integration, member["id"])
    # Then nothing is created
    assert off["outcome"]["action"] == "none"
    assert sandbox_contacts(sandbox, kind, integration["tenant"]) == []
    # When the policy is on and it is edited again
    patch_policies(client, admin, integration, create_contact_on_edit_if_unlinked=True)
    healed = synced(client, admin, integration, member["id"])
    # Then its contact is created and linked
    assert healed["outcome"]["action"] == "created", healed
    assert linked_contact(rt, integration, member["id"]) == healed["outcome"]["contact_id"]
    assert [contact_name(kind, c) for c in sandbox_contacts(sandbox, kind, integration["tenant"])] == [member["name"]]


# --- link_existing_by_name ---------------------------------------------------------------


def test_xero_links_an_existing_same_name_contact_after_the_create_clashes(
    client: Any, admin: Any, sandbox: Any, rt: Any, worker: Any,
) -> None:
    # Given a Xero contact with the organisation's name
    integration = create_integration(client, admin, sandbox, "xero")
    member = seed_organisation(sandbox, integration["subdomain"])
    existing = seed_contact(sandbox, "xero", integration["tenant"], member["name"])
    # When the organisation is created
    event = synced(client, admin, integration, member["id"], "create")
    # Then it is linked to that contact and overwritten, without a duplicate
    assert event["outcome"] == {"action": "linked", "contact_id": existing, "overwritten": True, "reason": None}
    assert len(sandbox_contacts(sandbox, "xero", integration["tenant"])) == 1
    assert linked_contact(rt, integration, member["id"]) == existing
    # And Xero saw: create (refused for the name), look-up, overwrite
    calls = contact_calls(sandbox, "xero")
    assert calls[0] == ("PUT", "")
    assert calls[1][0] == "GET" and calls[1][1] == ""
    assert calls[-1] == ("POST", f"/{existing}")
    assert writes(calls) == [("PUT", ""), ("POST", f"/{existing}")]


def test_sage_searches_before_creating_and_links_the_same_name_contact(
    client: Any, admin: Any, sandbox: Any, rt: Any, worker: Any,
) -> None:
    # Given a Sage contact with the organisation's name
    integration = create_integration(client, admin, sandbox, "sage")
    member = seed_organisation(sandbox, integration["subdomain"])
    existing = seed_contact(sandbox, "sage", integration["tenant"], member["name"])
    # When the organisation is created
    event = synced(client, admin, integration, member["id"], "create")
    # Then it is linked without any create: search, then overwrite
    assert event["outcome"] == {"action": "linked", "contact_id": existing, "overwritten": True, "reason": None}
    assert len(sandbox_contacts(sandbox, "sage", integration["tenant"])) == 1
    calls = contact_calls(sandbox, "sage")
    assert calls[0] == ("GET", "")
    assert writes(calls) == [("PUT", f"/{existing}")]


def test_sage_with_no_same_name_contact_searches_then_creates(client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    integration = create_integration(client, admin, sandbox, "sage")
    member = seed_organisation(sandbox, integration["subdomain"])
    event = synced(client, admin, integration, member["id"], "create")
    assert event["outcome"]["action"] == "created"
    calls = contact_calls(sandbox, "sage")
    assert calls[0] == ("GET", "") and writes(calls) == [("POST", "")]


def test_xero_without_link_by_name_fails_on_the_clash(client: Any, admin: Any, sandbox: Any, rt: Any, worker: Any) -> None:
    # Given a same-name contact and link_existing_by_name off
    integration = create_integration(client, admin, sandbox, "xero", policies={"link_existing_by_name": False})
    member = seed_organisation(sandbox, integration["subdomain"])
    seed_contact(sandbox, "xero", integration["tenant"], member["name"])
    # When the organisation is created
    event = synced(client, admin, integration, member["id"], "create")
    # Then it fails saying how to fix it, with no look-up and no link
    assert event["status"] == "failed"
    assert event["outcome"]["action"] is None
    assert "link_existing_by_name" in event["outcome"]["reason"]
    assert contact_calls(sandbox, "xero") == [("PUT", "")]
    assert linked_contact(rt, integration, member["id"]) is None


def test_sage_without_link_by_name_creates_without_searching(client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    integration = create_integration(client, admin, sandbox, "sage", policies={"link_existing_by_name": False})
    member = seed_organisation(sandbox, integration["subdomain"])
    seed_contact(sandbox, "sage", integration["tenant"], member["name"])
    event = synced(client, admin, integration, member["id"], "create")
    assert event["outcome"]["action"] == "created"
    assert writes(contact_calls(sandbox, "sage")) == [("POST", "")]
    assert contact_calls(sandbox, "sage")[0] == ("POST", "")


# --- linked_contact_field ------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_linked_contact_field_links_by_id_and_by_name(kind: str, client: Any, admin: Any, sandbox: Any, rt: Any, worker: Any) -> None:
    # Given two contacts with names unlike the organisations', and organisations naming them
    # in the policy's custom field, one by id and one by name
    integration = create_integration(client, admin, sandbox, kind, policies={"linked_contact_field": "acct_contact"})
    by_id = seed_contact(sandbox, kind, integration["tenant"], f"Named By Id {uuid.uuid4().hex[:6]}")
    by_name_label = f"Named By Name {uuid.uuid4().hex[:6]}"
    by_name = seed_contact(sandbox, kind, integration["tenant"], by_name_label)
    first = seed_organisation(sandbox, integration["subdomain"], membership={"number": "ACC-1"},
                              custom_fields={"acct_contact": by_id, "linked_contact": "ignored"})
    second = seed_organisation(sandbox, integration["subdomain"], membership={"number": "ACC-2"},
                               custom_fields={"acct_contact": by_name_label})
    # When each is created
    one = synced(client, admin, integration, first["id"], "create")
    two = synced(client, admin, integration, second["id"], "create")
    # Then each is linked to the contact it names, overwritten, and no contact is created
    assert one["outcome"] == {"action": "linked", "contact_id": by_id, "overwritten": True, "reason": None}
    assert two["outcome"] == {"action": "linked", "contact_id": by_name, "overwritten": True, "reason": None}
    assert len(sandbox_contacts(sandbox, kind, integration["tenant"])) == 2
    assert ("POST", "") not in contact_calls(sandbox, kind) and ("PUT", "") not in contact_calls(sandbox, kind)
    names = sorted(contact_name(kind, c) for c in sandbox_contacts(sandbox, kind, integration["tenant"]))
    assert names == sorted([first["name"], second["name"]])


@pytest.mark.parametrize("kind", KINDS)
def test_linked_contact_field_naming_no_contact_fails(kind: str, client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    integration = create_integration(client, admin, sandbox, kind)
    member = seed_organisation(sandbox, integration["subdomain"], custom_fields={"linked_contact": "Nobody Such Ltd"})
    event = synced(client, admin, integration, member["id"], "create")
    assert event["status"] == "failed"
    assert "Nobody Such Ltd" in event["outcome"]["reason"]
    assert writes(contact_calls(sandbox, kind)) == []


# --- write_link_to_field ---------------------------------------------------------------------


@pytest.fixture
def served(app: Any, rt: Any) -> Iterator[str]:
    """The app on real HTTP, and the public URL pointing at it, so that the sandbox rental
    system's own webhook deliveries reach the service."""
    with ServerThread(app) as server:
        original = rt.settings
        rt.settings = original.with_overrides(public_url=server.url)
        try:
            yield server.url
        finally:
            rt.settings = original


def test_write_link_to_field_writes_the_url_and_the_echo_makes_no_call(
    served: str, client: Any, admin: Any, sandbox: Any, rt: Any, worker: Any,
) -> None:
    # Given an integration that writes the contact's address back to the organisation
    integration = create_integration(client, admin, sandbox, "xero", policies={"write_link_to_field": "xero_link"})
    assert integration["webhook_url"].startswith(served)
    member = seed_organisation(sandbox, integration["subdomain"])
    # When the organisation is created
    event = synced(client, admin, integration, member["id"], "create")
    # Then the contact's web address is in the organisation's custom field
    assert event["outcome"]["action"] == "created", event
    link = links.get(rt.db, integration["id"], member["id"])
    assert link is not None and link.url and link.url.startswith("https://")
    stored = next(m for m in sandbox.get("current_rms", "members", subdomain=integration["subdomain"])["members"]
                  if m["id"] == member["id"])
    assert stored["custom_fields"]["xero_link"] == link.url
    # And the rental system's member_update for that write is processed without calling Xero:
    # the only contacts call of the whole test is the create
    echo = wait_for(lambda: [e for e in _events_of(client, admin, integration) if e["id"] != event["id"]
                             and e["status"] in ("succeeded", "failed", "skipped")])
    assert len(echo) == 1, echo
    assert (echo[0]["kind"], echo[0]["organisation_id"]) == ("update", member["id"])
    assert echo[0]["outcome"] == {"action": "none", "contact_id": event["outcome"]["contact_id"],
                                  "overwritten": False, "reason": None}
    assert contact_calls(sandbox, "xero") == [("PUT", "")]


def _events_of(client: Any, admin: Any, integration: Any) -> list[dict[str, Any]]:
    return client.get(f"/api/events?integration={integration['id']}", headers=admin).get_json()["events"]


# --- Xero's own rules ------------------------------------------------------------------------


def test_xero_account_number_clash_fails_with_a_reason(client: Any, admin: Any, sandbox: Any, rt: Any, worker: Any) -> None:
    # Given a Xero contact, of another name, holding the organisation's account number
    integration = create_integration(client, admin, sandbox, "xero")
    member = seed_organisation(sandbox, integration["subdomain"])
    number = member["membership"]["number"]
    assert number
    seed_contact(sandbox, "xero", integration["tenant"], "Someone Else Ltd", AccountNumber=number)
    # When the organisation is created
    event = synced(client, admin, integration, member["id"], "create")
    # Then it fails with a reason naming the account number, and nothing is linked
    assert event["status"] == "failed", event
    assert event["outcome"]["action"] is None
    assert "account number" in event["outcome"]["reason"].lower()
    assert number in event["outcome"]["reason"] and "replay" in event["outcome"]["reason"]
    assert event["attempts"] == 1  # a cause that needs a person fails at once
    assert event["last_error"]
    assert linked_contact(rt, integration, member["id"]) is None
    assert len(sandbox_contacts(sandbox, "xero", integration["tenant"])) == 1


def test_xero_merged_contact_takes_the_link_with_it(client: Any, admin: Any, sandbox: Any, rt: Any, worker: Any) -> None:
    # Given a linked organisation whose contact is then merged into another in Xero
    integration = create_integration(client, admin, sandbox, "xero")
    member = seed_organisation(sandbox, integration["subdomain"])
    first = synced(client, admin, integration, member["id"], "create")["outcome"]["contact_id"]
    survivor = seed_contact(sandbox, "xero", integration["tenant"], f"Survivor {uuid.uuid4().hex[:6]}")
    sandbox.control("xero", "merge", tenant=integration["tenant"], **{"from": first, "into": survivor})
    # When the organisation is edited
    edit_organisation(sandbox, integration["subdomain"], member["id"], {"name": member["name"] + " Two"})
    event = synced(client, admin, integration, member["id"])
    # Then the surviving contact is written and the link follows it
    assert event["status"] == "succeeded", event
    assert event["outcome"]["contact_id"] == survivor
    assert linked_contact(rt, integration, member["id"]) == survivor
    written = next(c for c in sandbox_contacts(sandbox, "xero", integration["tenant"]) if c["ContactID"] == survivor)
    assert written["Name"] == member["name"] + " Two"


def test_archived_linked_xero_contact_fails_relink(client: Any, admin: Any, sandbox: Any, rt: Any, worker: Any) -> None:
    integration = create_integration(client, admin, sandbox, "xero")
    member = seed_organisation(sandbox, integration["subdomain"])
    contact_id = synced(client, admin, integration, member["id"], "create")["outcome"]["contact_id"]
    sandbox.control("xero", "archive", tenant=integration["tenant"], contact_id=contact_id)
    edit_organisation(sandbox, integration["subdomain"], member["id"], {"name": member["name"] + " Two"})
    event = synced(client, admin, integration, member["id"])
    assert event["status"] == "failed", event
    assert "relink" in event["outcome"]["reason"]
    assert linked_contact(rt, integration, member["id"]) == contact_id


def test_deleted_linked_sage_contact_fails_relink(client: Any, admin: Any, sandbox: Any, rt: Any, worker: Any) -> None:
    # Given a linked organisation whose Sage contact is then deleted in Sage
    integration = create_integration(client, admin, sandbox, "sage")
    member = seed_organisation(sandbox, integration["subdomain"])
    contact_id = synced(client, admin, integration, member["id"], "create")["outcome"]["contact_id"]
    tokens = sandbox.control("sage", "tokens", tenant=integration["tenant"])
    deleted = requests.delete(f"{sandbox.sage}/v3.1/contacts/{contact_id}", timeout=5, headers={
        "Authorization": f"Bearer {tokens['access_token']}", "X-Business": integration["tenant"]})
    assert deleted.status_code in (200, 204), deleted.text
    # When the organisation is edited
    edit_organisation(sandbox, integration["subdomain"], member["id"], {"name": member["name"] + " Two"})
    event = synced(client, admin, integration, member["id"])
    # Then the event fails asking for a relink, and no new contact is made
    assert event["status"] == "failed", event
    assert "relink" in event["outcome"]["reason"]
    assert sandbox_contacts(sandbox, "sage", integration["tenant"]) == []


# --- the rental system refuses the key -------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_rental_system_401_sets_reconnect_needed(kind: str, client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    # Given the rental system's API key changed (the old one is refused)
    integration = create_integration(client, admin, sandbox, kind)
    member = seed_organisation(sandbox, integration["subdomain"])
    sandbox.control("current_rms", "accounts", subdomain=integration["subdomain"], api_key="rotated-key")
    # When an event is processed
    event = synced(client, admin, integration, member["id"], "create")
    # Then it fails asking to reconnect the rental system, and the integration says so
    assert event["status"] == "failed", event
    assert event["outcome"]["reason"] == "reconnect the rental system"
    assert event["attempts"] == 1
    shown = client.get(f"/api/integrations/{integration['id']}", headers=admin).get_json()
    assert shown["status"] == "reconnect_needed"
    assert writes(contact_calls(sandbox, kind)) == []

