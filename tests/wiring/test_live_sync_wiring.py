"""The live sync uses the ledger's flags, the matching rules, the defaults, the custom fields and
the field limits (issues 14 and 15): over HTTP, with a real worker thread and the sandbox. Each
test fails if its piece of wiring in ``workers.executor`` / ``core.decision`` is removed."""
from __future__ import annotations

from typing import Any, Callable

import pytest
import requests

from tests.ledger.support import (
    linked,
    qb_customer,
    qb_edit,
    sage_contact,
    sage_edit,
    wait_ledger_event,
    xero_contact,
    xero_delivery,
    xero_edit,
)
from tests.matching.matching_support import KINDS, seed_contact, seed_org, writes
from tests.support import (
    create_integration,
    edit_organisation,
    integration_body,
    running_worker,
    seed_organisation,
    send_webhook,
    wait_event,
)


@pytest.fixture
def worker(rt: Any) -> Any:
    yield from running_worker(rt)


def _sync(client: Any, admin: Any, integration: dict[str, Any], organisation_id: int,
          action: str = "create") -> dict[str, Any]:
    answer = send_webhook(client, integration, organisation_id, action)
    assert answer.status_code == 202, answer.get_json()
    return wait_event(client, admin, answer.get_json()["event_id"])


def _contacts(sandbox: Any, kind: str, integration: dict[str, Any]) -> list[dict[str, Any]]:
    key = {"xero": "Contacts", "quickbooks": "Customer", "sage": "contacts"}[kind]
    return list(sandbox.get(kind, "contacts", tenant=integration["tenant"])[key])


def _name(kind: str, contact: dict[str, Any]) -> str:
    return str(contact[{"xero": "Name", "quickbooks": "DisplayName", "sage": "name"}[kind]])


# -- issue 14: a flagged link refuses later syncs -----------------------------------------------
def test_a_flagged_link_refuses_a_later_sync_with_what_to_do(
        client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    integration = linked(client, admin, sandbox, "xero")  # on_contact_archived: flag (the default)
    organisation, contact_id = integration["organisation"], integration["contact_id"]
    # When the contact is archived in Xero and the ledger event flags the link
    sandbox.control("xero", "archive", tenant=integration["tenant"], contact_id=contact_id)
    xero_delivery(client, integration, [contact_id])
    flagged = wait_ledger_event(client, admin, integration, contact_id)
    assert flagged["outcome"]["action"] == "broken", flagged
    before = len(writes(sandbox, "xero"))
    # Then an edit of the organisation fails, saying what to do, and writes nothing
    event = _sync(client, admin, integration, organisation["id"], "update")
    assert event["status"] == "failed", event
    reason = event["outcome"]["reason"]
    assert "reactivate" in reason and "relink" in reason, reason
    assert len(writes(sandbox, "xero")) == before


# -- issue 15: matching in live syncs --------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_match_on_email_links_an_existing_contact_of_another_name(
        client: Any, admin: Any, sandbox: Any, worker: Any, kind: str) -> None:
    integration = create_integration(client, admin, sandbox, kind, policies={
        "match_on": ["email", "name"], "update_contact_on_edit": False})
    contact_id = seed_contact(sandbox, kind, integration["tenant"], "Books Name Ltd", email="ap@match.test")
    organisation_id = seed_org(sandbox, integration["subdomain"], "Rental Name Ltd", "ap@match.test")
    event = _sync(client, admin, integration, organisation_id)
    assert event["status"] == "succeeded", event
    assert event["outcome"]["action"] == "linked" and event["outcome"]["contact_id"] == contact_id
    assert len(_contacts(sandbox, kind, integration)) == 1  # nothing created
    assert writes(sandbox, kind) == []  # and, without update_contact_on_edit, nothing overwritten


@pytest.mark.parametrize("kind", KINDS)
def test_several_candidates_fail_naming_them(client: Any, admin: Any, sandbox: Any, worker: Any, kind: str) -> None:
    integration = create_integration(client, admin, sandbox, kind, policies={"match_on": ["email"]})
    seed_contact(sandbox, kind, integration["tenant"], "First Twin Ltd", email="twins@match.test")
    seed_contact(sandbox, kind, integration["tenant"], "Second Twin Ltd", email="twins@match.test")
    organisation_id = seed_org(sandbox, integration["subdomain"], "Twins Ltd", "twins@match.test")
    event = _sync(client, admin, integration, organisation_id)
    assert event["status"] == "failed", event
    reason = event["outcome"]["reason"]
    assert "First Twin Ltd" in reason and "Second Twin Ltd" in reason and "http" in reason, reason
    assert len(_contacts(sandbox, kind, integration)) == 2


@pytest.mark.parametrize("kind", KINDS)
def test_a_match_linked_elsewhere_fails_naming_both_organisations(
        client: Any, admin: Any, sandbox: Any, worker: Any, kind: str) -> None:
    integration = create_integration(client, admin, sandbox, kind, policies={"match_on": ["email"]})
    first = seed_org(sandbox, integration["subdomain"], "Owner Ltd", "shared@match.test")
    assert _sync(client, admin, integration, first)["status"] == "succeeded"
    second = seed_org(sandbox, integration["subdomain"], "Latecomer Ltd", "shared@match.test")
    event = _sync(client, admin, integration, second)
    assert event["status"] == "failed", event
    reason = event["outcome"]["reason"]
    assert "already linked" in reason and str(first) in reason and str(second) in reason, reason


@pytest.mark.parametrize("kind", KINDS)
def test_suffix_creates_the_name_with_the_account_number(
        client: Any, admin: Any, sandbox: Any, worker: Any, kind: str) -> None:
    """The same-name contact is not the match (another email): Xero and QuickBooks refuse the
    name, Sage would take a duplicate, so the sync looks the name up itself there."""
    integration = create_integration(client, admin, sandbox, kind, policies={
        "match_on": ["email"], "on_name_clash": "suffix"})
    seed_contact(sandbox, kind, integration["tenant"], "Clash Co", email="someone@else.test")
    organisation_id = seed_org(sandbox, integration["subdomain"], "Clash Co", "mine@clash.test", number="AC-7")
    event = _sync(client, admin, integration, organisation_id)
    assert event["status"] == "succeeded", event
    assert event["outcome"]["action"] == "created"
    names = sorted(_name(kind, c) for c in _contacts(sandbox, kind, integration))
    assert names == ["Clash Co", "Clash Co (AC-7)"]


# -- issue 15: defaults, custom fields and limits on the write path --------------------------------
def _read_xero(sandbox: Any, integration: dict[str, Any], cid: str) -> tuple[Any, Any]:
    contact = xero_contact(sandbox, integration, cid)
    return contact.get("DefaultCurrency"), contact.get("CompanyNumber")


def _read_qb(sandbox: Any, integration: dict[str, Any], cid: str) -> tuple[Any, Any]:
    customer = qb_customer(sandbox, integration, cid)
    return (customer.get("SalesTermRef") or {}).get("value"), customer.get("Notes")


def _read_sage(sandbox: Any, integration: dict[str, Any], cid: str) -> tuple[Any, Any]:
    contact = sage_contact(sandbox, integration, cid) or {}
    return contact.get("credit_days"), contact.get("registered_number")


#: kind: (defaults, custom target, how to read (default, custom), the default as created,
#: how an accountant changes it, the changed value).
CASES: dict[str, tuple[dict[str, Any], str, Callable[..., tuple[Any, Any]], Any, Callable[..., None], Any]] = {
    "xero": ({"default_currency": "AUD"}, "CompanyNumber", _read_xero, "AUD",
             lambda sb, i, cid: xero_edit(sb, i, cid, {"DefaultCurrency": "GBP"}), "GBP"),
    "quickbooks": ({"sales_term": "Net 30"}, "Notes", _read_qb, "3",
                   lambda sb, i, cid: qb_edit(sb, i, cid, {"SalesTermRef": {"value": "4"}}), "4"),
    "sage": ({"credit_days": 30}, "registered_number", _read_sage, 30,
             lambda sb, i, cid: sage_edit(sb, i, cid, {"credit_days": 45}), 45),
}


@pytest.mark.parametrize("kind", KINDS)
def test_defaults_and_custom_fields_on_create_and_an_overwrite_keeps_a_changed_default(
        client: Any, admin: Any, sandbox: Any, worker: Any, kind: str) -> None:
    defaults, target, read, created_value, change, changed_value = CASES[kind]
    integration = create_integration(client, admin, sandbox, kind, defaults=defaults,
                                      mapping={"custom_fields": {"company_no": target}})
    organisation = seed_organisation(sandbox, integration["subdomain"], name="Defaults Ltd",
                                     custom_fields={"linked_contact": "", "company_no": "12345678"})
    event = _sync(client, admin, integration, organisation["id"])
    assert event["status"] == "succeeded", event
    contact_id = event["outcome"]["contact_id"]
    # Then the created contact carries the default and the custom field
    assert read(sandbox, integration, contact_id) == (created_value, "12345678")
    # When the accountant changes the default, and the organisation is edited
    change(sandbox, integration, contact_id)
    edit_organisation(sandbox, integration["subdomain"], organisation["id"],
                      {"name": "Defaults Renamed Ltd", "custom_fields": {"linked_contact": "", "company_no": "87654321"}})
    updated = _sync(client, admin, integration, organisation["id"], "update")
    assert updated["status"] == "succeeded" and updated["outcome"]["action"] == "updated", updated
    # Then the overwrite carried the custom field but left the accountant's default alone
    assert read(sandbox, integration, contact_id) == (changed_value, "87654321")


def test_a_xero_default_group_is_joined_after_the_create(
        client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    body = integration_body(sandbox, "xero", defaults={"contact_group": "vip"})
    provider = body["provider"]
    headers = {"Authorization": f"Bearer {provider['access_token']}", "xero-tenant-id": provider["tenant_id"]}
    made = requests.put(f"{provider['api_url']}/ContactGroups", json={"ContactGroups": [{"Name": "VIP"}]},
                        headers=headers, timeout=5)
    assert made.status_code == 200, made.text
    group_id = made.json()["ContactGroups"][0]["ContactGroupID"]
    answer = client.post("/api/integrations", json=body, headers=admin)
    assert answer.status_code == 201, answer.get_json()
    integration = {**answer.get_json(), "subdomain": body["source"]["subdomain"], "tenant": provider["tenant_id"]}
    organisation = seed_organisation(sandbox, integration["subdomain"], name="Grouped Ltd")
    event = _sync(client, admin, integration, organisation["id"])
    assert event["status"] == "succeeded", event
    group = requests.get(f"{provider['api_url']}/ContactGroups/{group_id}", headers=headers, timeout=5)
    assert group.status_code == 200, group.text
    members = group.json()["ContactGroups"][0].get("Contacts") or []
    assert [c["ContactID"] for c in members] == [event["outcome"]["contact_id"]]


def test_a_sage_account_number_over_the_reference_limit_fails_naming_field_and_limit(
        client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    integration = create_integration(client, admin, sandbox, "sage")
    organisation_id = seed_org(sandbox, integration["subdomain"], "Long Number Ltd", "long@limit.test",
                               number="ACCOUNT-0001")
    event = _sync(client, admin, integration, organisation_id)
    assert event["status"] == "failed", event
    reason = event["outcome"]["reason"]
    assert "contact.reference" in reason and "10" in reason and "already used" not in reason, reason
    calls = [c for c in sandbox.calls("sage") if "/contacts" in c["path"] and not c["path"].startswith("/_sandbox")]
    assert calls == []  # refused before any call: not even the same-name search


def test_a_backlog_of_creates_still_gets_the_defaults(rt: Any, client: Any, admin: Any, sandbox: Any) -> None:
    """Creates queued before any worker runs are taken together (workers.processing's backlog);
    the batch call carries each element's defaults as a lone create would."""
    from tests.support import RunningWorker, wait_for
    from tests.workers.batching.test_batching_creates import queue_creates, settled

    integration = create_integration(client, admin, sandbox, "xero", defaults={"default_currency": "AUD"})
    event_ids = queue_creates(client, integration, sandbox, 8)
    with RunningWorker(rt, threads=1):
        rows = wait_for(lambda: settled(rt, event_ids), timeout=30)
    assert {row.status for row in rows} == {"succeeded"}, [row.outcome for row in rows]
    currencies = [xero_contact(sandbox, integration, row.outcome["contact_id"]).get("DefaultCurrency")
                  for row in rows]
    assert currencies == ["AUD"] * 8
