"""A refusal names the contact holding the clashing name or number, with its web link, and
never reads as a success code (issue 16: "Xero's refusal reads 'HTTP 200: The Account Number
already exists', without saying which contact holds it").

Over HTTP with a real worker: the service, the sandbox stand-ins, Redis and SQLite. Each system
refuses in its own way: Xero inside a 200 (``summarizeErrors=false``), QuickBooks with Fault
6240 naming only an Id, Sage with a 422 on ``reference``.
"""
from __future__ import annotations

from typing import Any

from tests.support import RunningWorker, create_integration, seed_organisation, send_webhook, wait_event
from tests.webhooks.ops_support import CLASH_NUMBER

NAME = "The Festival Of Testing"


def _failed_create(client: Any, admin: Any, integration: dict[str, Any], sandbox: Any) -> dict[str, Any]:
    member = seed_organisation(sandbox, integration["subdomain"], name=NAME)
    response = send_webhook(client, integration, member["id"], "create")
    assert response.status_code == 202, response.get_json()
    event = wait_event(client, admin, response.get_json()["event_id"], timeout=40)
    assert event["status"] == "failed", event
    return event


def test_xero_names_the_contact_holding_the_account_number(client: Any, admin: Any, rt: Any, sandbox: Any) -> None:
    # Given a Xero contact that holds the organisation's account number
    integration = create_integration(client, admin, sandbox, "xero")
    holder = sandbox.control("xero", "contacts", tenant=integration["tenant"],
                             contact={"Name": "Old Festival Ltd", "AccountNumber": CLASH_NUMBER})

    # When the organisation is created and Xero refuses its contact (inside an HTTP 200)
    with RunningWorker(rt):
        event = _failed_create(client, admin, integration, sandbox)

    # Then the reason names the holder, with its web link, and says what to do
    reason = event["outcome"]["reason"]
    assert reason.startswith(f"Xero refused: account number '{CLASH_NUMBER}' is already used by "
                             "contact 'Old Festival Ltd' ("), reason
    assert f"/Contacts/View/{holder['ContactID']}" in reason, reason
    assert "change the organisation's account number in Current RMS" in reason
    # and the technical detail keeps Xero's words without reading as a success
    assert "Account Number already exists" in event["last_error"]
    assert "HTTP 200" not in event["last_error"] and "HTTP 200" not in reason
    assert event["last_error"].startswith("xero: refused: "), event["last_error"]


def test_quickbooks_names_the_inactive_customer_holding_the_name(client: Any, admin: Any, rt: Any, sandbox: Any) -> None:
    # Given an inactive QuickBooks customer of the organisation's name (names stay taken)
    integration = create_integration(client, admin, sandbox, "quickbooks")
    seeded = sandbox.control("quickbooks", "contacts", tenant=integration["tenant"],
                             DisplayName=NAME, Active=False)["Customer"]

    # When the create is refused with Fault 6240 (which names only an Id)
    with RunningWorker(rt):
        event = _failed_create(client, admin, integration, sandbox)

    # Then the reason names that customer, its state and its web link
    reason = event["outcome"]["reason"]
    assert f"inactive customer '{NAME}' (" in reason, reason
    assert f"/app/customerdetail?nameId={seeded['Id']}" in reason, reason
    assert "make it active or rename it" in reason


def test_quickbooks_names_the_vendor_holding_the_name(client: Any, admin: Any, rt: Any, sandbox: Any) -> None:
    # Given a vendor of the organisation's name (QuickBooks names are unique across name lists)
    integration = create_integration(client, admin, sandbox, "quickbooks")
    vendor = sandbox.control("quickbooks", "entities", tenant=integration["tenant"], type="Vendor",
                             DisplayName=NAME)["Vendor"]

    with RunningWorker(rt):
        event = _failed_create(client, admin, integration, sandbox)

    reason = event["outcome"]["reason"]
    assert f"vendor '{NAME}' (id {vendor['Id']})" in reason, reason
    assert "rename the organisation or the vendor" in reason


def test_sage_names_the_contact_holding_the_reference(client: Any, admin: Any, rt: Any, sandbox: Any) -> None:
    # Given a Sage contact, inactive, holding the organisation's account number as its reference
    integration = create_integration(client, admin, sandbox, "sage")
    holder = sandbox.control("sage", "contacts", tenant=integration["tenant"], is_active=False,
                             contact={"name": "Old Festival Ltd", "reference": CLASH_NUMBER})

    with RunningWorker(rt):
        event = _failed_create(client, admin, integration, sandbox)

    # Then the reason names it (inactive), with the web link Sage gives it
    reason = event["outcome"]["reason"]
    assert reason.startswith(f"Sage refused: reference (account number) '{CLASH_NUMBER}' is already "
                             "used by inactive contact 'Old Festival Ltd' ("), reason
    assert f"({holder['links'][0]['href']})" in reason, reason
    assert "HTTP 200" not in event["last_error"]
