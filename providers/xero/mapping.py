"""ContactFields <-> Xero ``Contact`` payloads (interface §5; spec schema ``Contact``).

Every mapped field is sent, empty ones as ``""`` so that Xero clears them ("Current RMS wins");
the account number alone is left out when empty, never sent empty. The street address is sent
as both STREET and POBOX (invoices print the POBOX one). Phone area and country codes are sent
empty: the number from Current RMS is whole, and a stale area code would prefix it.
"""
from __future__ import annotations

import json
import re
from typing import Any

from core.models import ContactFields

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
ZERO_ID = "00000000-0000-0000-0000-000000000000"
ADDRESS_TYPES = ("STREET", "POBOX")
#: Xero phone slot -> ContactFields attribute (DEFAULT is the work phone).
PHONE_SLOTS = {"DEFAULT": "phone", "MOBILE": "mobile", "FAX": "fax"}


def contact_payload(fields: ContactFields) -> dict[str, Any]:
    """One ``Contact`` for PUT/POST /Contacts, with no read-only echo field (A3)."""
    address = {
        "AddressLine1": fields.address_line1, "AddressLine2": fields.address_line2,
        "AddressLine3": "", "AddressLine4": "", "City": fields.city, "Region": fields.region,
        "PostalCode": fields.postcode, "Country": fields.country,
    }
    payload: dict[str, Any] = {
        "Name": fields.name.strip(),
        "EmailAddress": fields.email,
        "TaxNumber": fields.tax_number,
        "Addresses": [{"AddressType": kind, **address} for kind in ADDRESS_TYPES],
        "Phones": [
            {"PhoneType": kind, "PhoneNumber": getattr(fields, attribute),
             "PhoneAreaCode": "", "PhoneCountryCode": ""}
            for kind, attribute in PHONE_SLOTS.items()
        ],
    }
    if fields.account_number:
        payload["AccountNumber"] = fields.account_number
    return payload


def contacts_body(payloads: list[dict[str, Any]]) -> bytes:
    """The exact bytes sent (and hashed into the Idempotency-Key)."""
    return json.dumps({"Contacts": payloads}, separators=(",", ":"), sort_keys=True).encode()


def fields_from(contact: dict[str, Any]) -> ContactFields:
    """The mapped fields of a Xero contact (bulk import into Current RMS)."""
    address = _address(contact)
    lines = [address.get(f"AddressLine{n}") or "" for n in range(1, 5)]
    country = address.get("Country") or ""
    phones = {p.get("PhoneType"): _phone_text(p) for p in contact.get("Phones") or []}
    return ContactFields(
        name=contact.get("Name") or "",
        address_line1=lines[0],
        address_line2=", ".join(line for line in lines[1:] if line),
        city=address.get("City") or "",
        region=address.get("Region") or "",
        postcode=address.get("PostalCode") or "",
        country=country,
        country_code=country if re.fullmatch(r"[A-Z]{2}", country) else "",
        email=contact.get("EmailAddress") or "",
        **{attribute: phones.get(kind, "") for kind, attribute in PHONE_SLOTS.items()},
        tax_number=contact.get("TaxNumber") or "",
        account_number=contact.get("AccountNumber") or "",
    )


def _address(contact: dict[str, Any]) -> dict[str, Any]:
    """STREET, or POBOX where STREET is empty (older contacts often fill only POBOX)."""
    by_type = {a.get("AddressType"): a for a in contact.get("Addresses") or []}
    for kind in ADDRESS_TYPES:
        address = by_type.get(kind) or {}
        if any(v for k, v in address.items() if k != "AddressType"):
            return address
    return {}


def _phone_text(phone: dict[str, Any]) -> str:
    parts = (phone.get("PhoneCountryCode"), phone.get("PhoneAreaCode"), phone.get("PhoneNumber"))
    return " ".join(str(p) for p in parts if p)


def escape_where(value: str) -> str:
    """A string literal's inside for Xero's ``where`` (C#-style escapes)."""
    return value.replace("\\", "\\\\").replace('"', '\\"')
