"""interface §11's policies and defaults on the live path: a webhook over HTTP, a real worker,
the sandbox for each system. Each test fails if the setting it names is ignored; together with
``tests/wiring/test_live_sync_wiring.py`` (email key, several, linked elsewhere, suffix, one
default and custom field each, Xero's group, Sage's reference limit), ``test_bulk_export_extras``,
``test_quickbooks_currency_default`` and ``test_several_same_name`` they cover every key."""
from __future__ import annotations

from typing import Any, Callable

import pytest

from core.store import links
from tests.ledger.support import qb_customer, sage_contact, xero_contact
from tests.matching.matching_support import KINDS, seed_contact, seed_org, writes
from tests.support import create_integration, running_worker, seed_organisation, send_webhook, wait_event


@pytest.fixture
def worker(rt: Any) -> Any:
    yield from running_worker(rt)


def _sync(client: Any, admin: Any, integration: dict[str, Any], organisation_id: int) -> dict[str, Any]:
    answer = send_webhook(client, integration, organisation_id, "create")
    assert answer.status_code == 202, answer.get_json()
    return wait_event(client, admin, answer.get_json()["event_id"])


def _contacts(sandbox: Any, kind: str, integration: dict[str, Any]) -> list[dict[str, Any]]:
    key = {"xero": "Contacts", "quickbooks": "Customer", "sage": "contacts"}[kind]
    return list(sandbox.get(kind, "contacts", tenant=integration["tenant"])[key])


# -- match_on ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("match_on, wanted", [(["email", "name"], "by_email"), (["name", "email"], "by_name")])
def test_the_first_key_of_match_on_that_finds_one_contact_decides(
        rt: Any, client: Any, admin: Any, sandbox: Any, worker: Any, kind: str,
        match_on: list[str], wanted: str) -> None:
    # Given one contact with the organisation's email (another name), one with its name
    integration = create_integration(client, admin, sandbox, kind, policies={
        "match_on": match_on, "update_contact_on_edit": False})
    by_email = seed_contact(sandbox, kind, integration["tenant"], "Ledger Name Ltd", email="ap@order.test")
    by_name = seed_contact(sandbox, kind, integration["tenant"], "Order Hire Ltd", email="other@order.test")
    organisation_id = seed_org(sandbox, integration["subdomain"], "Order Hire Ltd", "ap@order.test")
    # When the organisation is created
    event = _sync(client, admin, integration, organisation_id)
    # Then the contact found by the first key is linked, and nothing is written
    assert event["status"] == "succeeded", event
    expected = {"by_email": by_email, "by_name": by_name}[wanted]
    assert (event["outcome"]["action"], event["outcome"]["contact_id"]) == ("linked", expected)
    assert writes(sandbox, kind) == []


@pytest.mark.parametrize("kind", ["xero", "sage"])
def test_match_on_account_number_links_the_contact_holding_it(
        client: Any, admin: Any, sandbox: Any, worker: Any, kind: str) -> None:
    """QuickBooks customers have no account number: the key is documented as not matchable."""
    integration = create_integration(client, admin, sandbox, kind, policies={
        "match_on": ["account_number"], "update_contact_on_edit": False})
    holder = seed_contact(sandbox, kind, integration["tenant"], "Numbered Books Ltd", account_number="AC-55")
    organisation_id = seed_org(sandbox, integration["subdomain"], "Numbered Hire Ltd", "n@numbers.test",
                               number="AC-55")
    event = _sync(client, admin, integration, organisation_id)
    assert event["status"] == "succeeded", event
    assert (event["outcome"]["action"], event["outcome"]["contact_id"]) == ("linked", holder)
    assert len(_contacts(sandbox, kind, integration)) == 1


def test_xero_match_on_tax_number_links_the_contact_holding_it(
        client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    """Only Xero filters on a tax number (Sage has no filter, QuickBooks masks it): README."""
    integration = create_integration(client, admin, sandbox, "xero", policies={
        "match_on": ["tax_number"], "update_contact_on_edit": False})
    holder = sandbox.control("xero", "contacts", tenant=integration["tenant"],
                             contact={"Name": "Taxed Books Ltd", "TaxNumber": "GB 555 1212"})["ContactID"]
    organisation = seed_organisation(sandbox, integration["subdomain"], name="Taxed Hire Ltd",
                                     membership={"number": "TX-1", "tax_number": "GB 555 1212"})
    event = _sync(client, admin, integration, organisation["id"])
    assert event["status"] == "succeeded", event
    assert (event["outcome"]["action"], event["outcome"]["contact_id"]) == ("linked", holder)
    assert len(_contacts(sandbox, "xero", integration)) == 1


# -- on_name_clash -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["xero", "quickbooks"])
def test_on_name_clash_fail_fails_naming_the_name(
        rt: Any, client: Any, admin: Any, sandbox: Any, worker: Any, kind: str) -> None:
    """The counterpart of ``test_suffix_creates_the_name_with_the_account_number``: the same
    clash under the default policy fails, creating nothing. (Sage refuses no name: a clash
    there is the one ``suffix`` looks for itself.)"""
    integration = create_integration(client, admin, sandbox, kind, policies={"match_on": ["email"]})
    seed_contact(sandbox, kind, integration["tenant"], "Clash Fail Co", email="someone@else.test")
    organisation_id = seed_org(sandbox, integration["subdomain"], "Clash Fail Co", "mine@clash.test", number="CF-1")
    event = _sync(client, admin, integration, organisation_id)
    assert event["status"] == "failed", event
    assert "Clash Fail Co" in event["outcome"]["reason"], event
    assert len(_contacts(sandbox, kind, integration)) == 1
    assert links.get(rt.db, integration["id"], organisation_id) is None


@pytest.mark.parametrize("policy", ["fail", "suffix"])
def test_a_quickbooks_vendor_with_the_name_follows_on_name_clash(
        client: Any, admin: Any, sandbox: Any, worker: Any, policy: str) -> None:
    """QuickBooks names are unique across customers, vendors and employees (6240)."""
    integration = create_integration(client, admin, sandbox, "quickbooks", policies={"on_name_clash": policy})
    sandbox.control("quickbooks", "entities", tenant=integration["tenant"], type="Vendor",
                    DisplayName="Vendor Named Co")
    organisation_id = seed_org(sandbox, integration["subdomain"], "Vendor Named Co", "v@vendor.test", number="VN-2")
    event = _sync(client, admin, integration, organisation_id)
    if policy == "fail":
        assert event["status"] == "failed", event
        assert "vendor" in event["outcome"]["reason"], event
        assert _contacts(sandbox, "quickbooks", integration) == []
    else:
        assert event["status"] == "succeeded", event
        names = [c["DisplayName"] for c in _contacts(sandbox, "quickbooks", integration)]
        assert names == ["Vendor Named Co (VN-2)"]


# -- defaults ----------------------------------------------------------------------------------
def _xero(sandbox: Any, integration: dict[str, Any], cid: str) -> tuple[Any, ...]:
    contact = xero_contact(sandbox, integration, cid)
    return contact.get("SalesDefaultAccountCode"), (contact.get("PaymentTerms") or {}).get("Sales")


def _quickbooks(sandbox: Any, integration: dict[str, Any], cid: str) -> tuple[Any, ...]:
    customer = qb_customer(sandbox, integration, cid)
    return (customer.get("CurrencyRef") or {}).get("value"), customer.get("PreferredDeliveryMethod")


def _sage(sandbox: Any, integration: dict[str, Any], cid: str) -> tuple[Any, ...]:
    contact = sage_contact(sandbox, integration, cid) or {}
    return (contact.get("currency") or {}).get("id"), contact.get("credit_limit")


#: The defaults ``test_live_sync_wiring`` leaves out (it shows one of each system's), and what
#: the created contact then holds.
DEFAULTS: dict[str, tuple[dict[str, Any], Callable[..., tuple[Any, ...]], tuple[Any, ...]]] = {
    "xero": ({"sales_account_code": "200", "payment_terms": {"day": 20, "type": "OFFOLLOWINGMONTH"}},
             _xero, ("200", {"Day": 20, "Type": "OFFOLLOWINGMONTH"})),
    "quickbooks": ({"currency": "CAD", "preferred_delivery_method": "Email"}, _quickbooks, ("CAD", "Email")),
    "sage": ({"currency": "USD", "credit_limit": 2500}, _sage, ("USD", 2500)),
}


@pytest.mark.parametrize("kind", KINDS)
def test_each_default_is_on_the_created_contact(
        client: Any, admin: Any, sandbox: Any, worker: Any, kind: str) -> None:
    defaults, read, held = DEFAULTS[kind]
    integration = create_integration(client, admin, sandbox, kind, defaults=defaults)
    organisation_id = seed_org(sandbox, integration["subdomain"], f"Defaults {kind} Ltd", f"d@{kind}.test")
    event = _sync(client, admin, integration, organisation_id)
    assert event["status"] == "succeeded" and event["outcome"]["action"] == "created", event
    assert read(sandbox, integration, event["outcome"]["contact_id"]) == held


# -- custom fields and field limits --------------------------------------------------------------
#: A custom-field target and a value one character past its limit.
TOO_LONG = {"xero": ("ContactNumber", "C" * 51, "50"), "quickbooks": ("Title", "T" * 17, "16"),
            "sage": ("aux_reference", "ABCDE", "4")}


@pytest.mark.parametrize("kind", KINDS)
def test_a_custom_field_value_the_target_cannot_hold_fails_naming_it(
        rt: Any, client: Any, admin: Any, sandbox: Any, worker: Any, kind: str) -> None:
    target, value, limit = TOO_LONG[kind]
    integration = create_integration(client, admin, sandbox, kind,
                                     mapping={"custom_fields": {"crm_ref": target}})
    organisation = seed_organisation(sandbox, integration["subdomain"], name=f"Long Custom {kind} Ltd",
                                     membership={"number": "LC-1", "tax_number": ""},
                                     custom_fields={"linked_contact": "", "crm_ref": value})
    event = _sync(client, admin, integration, organisation["id"])
    assert event["status"] == "failed", event
    reason = event["outcome"]["reason"]
    assert "crm_ref" in reason and target in reason and limit in reason, reason
    assert writes(sandbox, kind) == [] and _contacts(sandbox, kind, integration) == []


#: A mapped value each system would refuse, and what the reason names (Sage's reference is in
#: ``test_live_sync_wiring``).
REFUSED = {
    "xero": ({"membership": {"number": "A" * 51, "tax_number": ""}}, ("Contact.AccountNumber", "50")),
    "quickbooks": ({"name": "Colon: Hire Ltd"}, ("Customer.DisplayName", "':'")),
}


@pytest.mark.parametrize("kind", ["xero", "quickbooks"])
def test_a_mapped_value_over_the_system_limit_fails_naming_field_and_limit(
        client: Any, admin: Any, sandbox: Any, worker: Any, kind: str) -> None:
    changes, named = REFUSED[kind]
    integration = create_integration(client, admin, sandbox, kind)
    organisation = seed_organisation(sandbox, integration["subdomain"], **changes)
    event = _sync(client, admin, integration, organisation["id"])
    assert event["status"] == "failed", event
    for part in named:
        assert part in event["outcome"]["reason"], event["outcome"]["reason"]
    assert writes(sandbox, kind) == [] and _contacts(sandbox, kind, integration) == []
