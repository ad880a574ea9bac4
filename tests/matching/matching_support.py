"""Seeding contacts and organisations for the matching suites, the same way on every system."""
from __future__ import annotations

import itertools
from typing import Any

from tests.support import seed_organisation

KINDS = ("xero", "quickbooks", "sage")
_numbers = itertools.count(1)


def seed_contact(sandbox: Any, kind: str, tenant: str, name: str, email: str = "",
                 account_number: str = "") -> str:
    """A customer in the stand-in accounting system, as a person made it; its id."""
    if kind == "xero":
        contact = {"Name": name, "EmailAddress": email, "AccountNumber": account_number}
        return sandbox.control("xero", "contacts", tenant=tenant, contact=contact)["ContactID"]
    if kind == "quickbooks":
        body: dict[str, Any] = {"DisplayName": name}
        if email:
            body["PrimaryEmailAddr"] = {"Address": email}
        return sandbox.control("quickbooks", "contacts", tenant=tenant, **body)["Customer"]["Id"]
    contact = {"name": name, "main_contact_person": {"email": email, "is_main_contact": True}}
    if account_number:
        contact["reference"] = account_number
    return sandbox.control("sage", "contacts", tenant=tenant, contact=contact)["id"]


def seed_org(sandbox: Any, subdomain: str, name: str, email: str, number: str = "") -> int:
    """An organisation with its own account number unless one is given (Xero and Sage keep
    them unique)."""
    number = number or f"N{next(_numbers)}"
    member = seed_organisation(
        sandbox, subdomain, name=name,
        emails=[{"address": email, "type_id": 4001, "email_type_name": "Work"}],
        membership={"number": number, "tax_number": ""},
    )
    return int(member["id"])


def writes(sandbox: Any, kind: str) -> list[dict[str, Any]]:
    return [c for c in sandbox.calls(kind) if c["method"] in ("POST", "PUT", "PATCH", "DELETE")]
