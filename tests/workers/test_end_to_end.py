"""The whole path over HTTP on real parts: webhook → 202 → worker → contact → link → event.

A real Redis, a real Dramatiq worker in this process, the Flask app, and the sandbox's rental
system and accounting systems on 127.0.0.1. The same scenario runs for every provider.
"""
from __future__ import annotations

from typing import Any

import pytest

from tests.support import (
    create_integration,
    edit_organisation,
    running_worker,
    seed_organisation,
    send_webhook,
    wait_event,
)

PROVIDERS = ["xero", "quickbooks", "sage"]


@pytest.fixture
def worker(rt: Any) -> Any:
    yield from running_worker(rt)


def contact_in_sandbox(sandbox: Any, kind: str, tenant: str, contact_id: str) -> dict[str, Any]:
    answer = sandbox.get(kind, "contacts", tenant=tenant)
    contacts = next(value for value in answer.values() if isinstance(value, list))
    matches = [c for c in contacts if str(_contact_id(kind, c)) == contact_id]
    assert len(matches) == 1, contacts
    return matches[0]


ID_KEYS = {"xero": "ContactID", "quickbooks": "Id", "sage": "id"}


def _contact_id(kind: str, contact: dict[str, Any]) -> str:
    return contact[ID_KEYS[kind]]


def mapped_view(kind: str, contact: dict[str, Any]) -> dict[str, Any]:
    """The contact's mapped fields in one shape, whatever the system."""
    if kind == "xero":
        street = next(a for a in contact["Addresses"] if a["AddressType"] == "STREET")
        phones = {p["PhoneType"]: p.get("PhoneNumber", "") for p in contact["Phones"]}
        return {
            "name": contact["Name"], "line1": street.get("AddressLine1", ""),
            "line2": street.get("AddressLine2", ""), "city": street.get("City", ""),
            "region": street.get("Region", ""), "postcode": street.get("PostalCode", ""),
            "country": street.get("Country", ""), "email": contact.get("EmailAddress", ""),
            "phone": phones.get("DEFAULT", ""), "mobile": phones.get("MOBILE", ""),
            "fax": phones.get("FAX", ""), "tax": contact.get("TaxNumber", ""),
            "account": contact.get("AccountNumber", ""),
        }
    if kind == "quickbooks":
        bill = contact.get("BillAddr") or {}
        return {
            "name": contact["DisplayName"], "line1": bill.get("Line1", ""), "line2": bill.get("Line2", ""),
            "city": bill.get("City", ""), "region": bill.get("CountrySubDivisionCode", ""),
            "postcode": bill.get("PostalCode", ""), "country": bill.get("Country", ""),
            "email": (contact.get("PrimaryEmailAddr") or {}).get("Address", ""),
            "phone": (contact.get("PrimaryPhone") or {}).get("FreeFormNumber", ""),
            "mobile": (contact.get("Mobile") or {}).get("FreeFormNumber", ""),
            "fax": (contact.get("Fax") or {}).get("FreeFormNumber", ""),
            "tax": contact.get("PrimaryTaxIdentifier", ""), "account": None,
        }
    address = contact.get("main_address") or {}
    person = contact.get("main_contact_person") or {}
    return {
        "name": contact["name"], "line1": address.get("address_line_1") or "",
        "line2": address.get("address_line_2") or "", "city": address.get("city") or "",
        "region": address.get("region") or "", "postcode": address.get("postal_code") or "",
        "country": _sage_country(address), "email": person.get("email") or "",
        "phone": person.get("telephone") or "", "mobile": person.get("mobile") or "",
        "fax": person.get("fax") or "", "tax": contact.get("tax_number") or "",
        "account": contact.get("reference") or "",
    }


def _sage_country(address: dict[str, Any]) -> str:
    country = address.get("country") or address.get("country_id") or ""
    return country.get("id", "") if isinstance(country, dict) else country


def expected_view(kind: str, name: str) -> dict[str, Any]:
    """The sample organisation's fields as each system holds them."""
    view = {
        "name": name, "line1": "Unit 4, Harbour Works", "line2": "12 Quay Street",
        "city": "Auckland", "region": "Auckland", "postcode": "1010", "country": "New Zealand",
        "email": "accounts@festivaloftesting.example", "phone": "09 212 3456",
        "mobile": "021 234 5678", "fax": "09 212 3457", "tax": "GB123456789", "account": "FOT-001",
    }
    if kind == "sage":
        view["country"] = "NZ"
    if kind == "quickbooks":
        view["account"] = None  # QuickBooks customers have no account number
        view["tax"] = "XXXXXX56789"  # QuickBooks masks it in answers (reference B2)
    return view


@pytest.mark.parametrize("kind", PROVIDERS)
def test_webhook_to_contact_then_edit_then_unmapped_edit(kind: str, client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    # Given an integration and a new organisation in the rental system
    integration = create_integration(client, admin, sandbox, kind)
    member = seed_organisation(sandbox, integration["subdomain"])

    # When the rental system says it was created
    response = send_webhook(client, integration, member["id"], "create")

    # Then the webhook is accepted, the contact exists with every mapped field, and it is linked
    assert response.status_code == 202, response.get_json()
    event = wait_event(client, admin, response.get_json()["event_id"])
    assert event["status"] == "succeeded", event
    assert event["outcome"]["action"] == "created"
    contact_id = event["outcome"]["contact_id"]
    contact = contact_in_sandbox(sandbox, kind, integration["tenant"], contact_id)
    assert mapped_view(kind, contact) == expected_view(kind, member["name"])
    links = client.get(f"/api/integrations/{integration['id']}/links", headers=admin).get_json()["links"]
    assert [(link["organisation_id"], link["contact_id"]) for link in links] == [(member["id"], contact_id)]
    assert links[0]["url"].startswith("https://")

    # When the organisation's email changes and its fax is emptied
    emails = [{"address": "billing@festivaloftesting.example", "type_id": 4001, "email_type_name": "Work"}]
    phones = [p for p in member["phones"] if p["phone_type_name"] != "Fax"]
    edit_organisation(sandbox, integration["subdomain"], member["id"], {"emails": emails, "phones": phones})
    updated = wait_event(client, admin, send_webhook(client, integration, member["id"]).get_json()["event_id"])

    # Then the contact is overwritten: the new email, and no fax any more
    assert updated["outcome"] == {"action": "updated", "contact_id": contact_id, "overwritten": True, "reason": None}
    view = mapped_view(kind, contact_in_sandbox(sandbox, kind, integration["tenant"], contact_id))
    assert view["email"] == "billing@festivaloftesting.example"
    assert view["fax"] == ""

    # When only an unmapped field changes
    writes_before = sandbox.get(kind, "stats")["writes"]
    edit_organisation(sandbox, integration["subdomain"], member["id"], {"description": "VIP customer"})
    unchanged = wait_event(client, admin, send_webhook(client, integration, member["id"]).get_json()["event_id"])

    # Then nothing is written to the accounting system
    assert unchanged["outcome"]["action"] == "none"
    assert sandbox.get(kind, "stats")["writes"] == writes_before
