"""ContactFields <-> QuickBooks Customer JSON (providers.md §B2), and query-string escaping.

Customer has no account-number field (§B2), so ``account_number`` is never sent. On create an
empty field is left out; on overwrite every mapped field is sent, the empty ones emptied, so that a
sparse update clears them.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.errors import Rejected
from core.models import Contact, ContactFields
from providers import stamps

if TYPE_CHECKING:
    from providers.contact_extras import Extras

#: Characters QuickBooks refuses in DisplayName (§B2).
FORBIDDEN_IN_NAMES = (":", "\t", "\n", "\r")
DISPLAY_NAME_MAX = 500
#: CompanyName is limited to 100 (§B2); DisplayName keeps the full name.
COMPANY_NAME_MAX = 100
#: A masked tax number as QuickBooks answers it: ``XXXXXX56789`` (§B2).
MASK_CHARACTER = "X"


def check_name(name: str) -> str:
    """The name to send, or ``Rejected`` with a reason a person can act on."""
    cleaned = name.strip()
    if not cleaned:
        raise Rejected("empty name", reason="the organisation has no name", system="quickbooks")
    if any(c in cleaned for c in FORBIDDEN_IN_NAMES):
        raise Rejected(
            f"name {cleaned!r} has a forbidden character", system="quickbooks",
            reason="QuickBooks customer names cannot contain a colon (:), tab or line break; "
            "rename the organisation",
        )
    if len(cleaned) > DISPLAY_NAME_MAX:
        raise Rejected(
            "name too long", system="quickbooks",
            reason=f"QuickBooks customer names are limited to {DISPLAY_NAME_MAX} characters",
        )
    return cleaned


def customer_fields(fields: ContactFields) -> dict[str, Any]:
    """Every mapped field, empty ones as empty values (the overwrite shape)."""
    name = check_name(fields.name)
    return {
        "DisplayName": name,
        "CompanyName": name[:COMPANY_NAME_MAX].strip(),
        "BillAddr": {
            "Line1": fields.address_line1,
            "Line2": fields.address_line2,
            "City": fields.city,
            "CountrySubDivisionCode": fields.region,
            "PostalCode": fields.postcode,
            "Country": fields.country or fields.country_code,
        },
        "PrimaryEmailAddr": {"Address": fields.email},
        "PrimaryPhone": {"FreeFormNumber": fields.phone},
        "Mobile": {"FreeFormNumber": fields.mobile},
        "Fax": {"FreeFormNumber": fields.fax},
        "PrimaryTaxIdentifier": fields.tax_number,
    }


def create_payload(fields: ContactFields) -> dict[str, Any]:
    """A create: the bare Customer object (§B1) without the empty fields."""
    return _without_empty(customer_fields(fields))


def create_body(fields: ContactFields, extras: Extras | None) -> dict[str, Any]:
    """What one create sends, alone or as a batch item: the payload with the integration's
    defaults and custom fields added (``providers.contact_extras``)."""
    payload = create_payload(fields)
    return extras.apply("quickbooks", payload) if extras is not None else payload


def update_payload(fields: ContactFields, contact_id: str, sync_token: str) -> dict[str, Any]:
    """A sparse update carrying every mapped field; emptied ones clear the customer's (§B1)."""
    return {"Id": contact_id, "SyncToken": sync_token, "sparse": True, **customer_fields(fields)}


def to_contact(customer: dict[str, Any], url: str | None) -> Contact:
    return Contact(
        id=str(customer.get("Id", "")),
        name=str(customer.get("DisplayName", "")),
        email=_inner(customer, "PrimaryEmailAddr", "Address"),
        active=bool(customer.get("Active", True)),
        url=url,
        version=str(customer.get("SyncToken", "")) or None,
        entity_type="Customer",
        updated_at=last_updated(customer),
    )


def last_updated(customer: dict[str, Any]) -> datetime | None:
    """``MetaData.LastUpdatedTime`` (a CDC row or a read; ``lastUpdated`` in a notification)."""
    return stamps.iso((customer.get("MetaData") or {}).get("LastUpdatedTime") or customer.get("lastUpdated"))


def to_fields(customer: dict[str, Any]) -> ContactFields:
    """The reverse mapping, for a bulk import."""
    address = customer.get("BillAddr") or {}
    tax = str(customer.get("PrimaryTaxIdentifier") or "")
    if tax.startswith(MASK_CHARACTER):
        tax = ""  # QuickBooks only ever shows it masked: never copy the mask into Current RMS
    country = str(address.get("Country") or "")
    return ContactFields(
        name=str(customer.get("DisplayName", "")),
        address_line1=str(address.get("Line1") or ""),
        address_line2=str(address.get("Line2") or ""),
        city=str(address.get("City") or ""),
        region=str(address.get("CountrySubDivisionCode") or ""),
        postcode=str(address.get("PostalCode") or ""),
        country=country,
        country_code=country if len(country) == 2 and country.isalpha() else "",
        email=_inner(customer, "PrimaryEmailAddr", "Address"),
        phone=_inner(customer, "PrimaryPhone", "FreeFormNumber"),
        mobile=_inner(customer, "Mobile", "FreeFormNumber"),
        fax=_inner(customer, "Fax", "FreeFormNumber"),
        tax_number=tax,
    )


def quote(text: str) -> str:
    """A query string literal: backslashes then quotes escaped (python-quickbooks #319)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _inner(customer: dict[str, Any], name: str, key: str) -> str:
    value = customer.get(name) or {}
    return str(value.get(key) or "") if isinstance(value, dict) else ""


def _without_empty(payload: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for name, value in payload.items():
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if v}
        if value:
            kept[name] = value
    return kept
