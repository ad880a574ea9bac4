"""ContactFields <-> Sage ``contact`` bodies, and Sage's JSON -> ``Contact`` (providers.md §C2).

| ContactFields | Sage (``postContacts`` / ``putContacts``) |
|---|---|
| name | ``name`` |
| address_line1/2, city, region, postcode | ``main_address.address_line_1/2``, ``city``, ``region``, ``postal_code`` |
| country_code | ``main_address.country_id`` (ISO code; Sage wants the id, not the name) |
| email, phone, mobile, fax | ``main_contact_person.email``, ``telephone``, ``mobile``, ``fax`` |
| tax_number | ``tax_number`` |
| account_number | ``reference`` ("Unique reference for the contact"), never sent empty |

An empty field is sent as ``""`` so that Sage clears it ("Current RMS wins"); the reference is
left out instead, so an empty account number never wipes the contact's reference.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from core.models import Contact, ContactFields
from providers import stamps

#: Contacts this service creates are customers ("has to be either CUSTOMER or VENDOR").
CUSTOMER = "CUSTOMER"
#: Hosts whose pages may be offered as a contact's web address (providers.md §C7).
WEB_HOST_SUFFIXES = (".sageone.com", ".sage.com")
#: ``rel`` of the web-app link; one public example spells it "alternative".
WEB_LINK_RELS = ("alternate", "alternative")


def contact_body(fields: ContactFields, *, create: bool) -> dict[str, Any]:
    """The ``{"contact": {...}}`` body carrying every mapped field."""
    contact: dict[str, Any] = {"name": fields.name}
    if create:
        # Only on create: a PUT without it keeps the contact's types (a VENDOR too, say).
        contact["contact_type_ids"] = [CUSTOMER]
    if fields.account_number.strip():
        contact["reference"] = fields.account_number.strip()
    contact["tax_number"] = fields.tax_number
    contact["main_address"] = {
        "address_line_1": fields.address_line1,
        "address_line_2": fields.address_line2,
        "city": fields.city,
        "region": fields.region,
        "postal_code": fields.postcode,
        "country_id": fields.country_code.strip().upper(),
    }
    contact["main_contact_person"] = {
        "email": fields.email,
        "telephone": fields.phone,
        "mobile": fields.mobile,
        "fax": fields.fax,
        "is_main_contact": True,
    }
    return {"contact": contact}


def web_link_from(links: Any, web_url: str | None = None) -> str | None:
    """The ``links[]`` entry with rel ``alternate`` and type ``text/html``, if it is a Sage page.

    The URL cannot be built: its numeric id is not the API id (§C7). It is shown to people and
    written to Current RMS, so only an https address on a Sage host is kept, or one below
    ``web_url`` (``SAGE_WEB_URL``, the administrator's: ``make run`` names the sandbox)."""
    for link in links if isinstance(links, list) else []:
        if not isinstance(link, dict):
            continue
        if link.get("rel") in WEB_LINK_RELS and link.get("type") == "text/html":
            return safe_web_address(link.get("href"), web_url)
    return None


def safe_web_address(href: Any, web_url: str | None = None) -> str | None:
    if not isinstance(href, str):
        return None
    if web_url and href.startswith(web_url.rstrip("/") + "/"):
        return href
    parts = urlsplit(href)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host.endswith(WEB_HOST_SUFFIXES):
        return None
    return href


def to_contact(data: dict[str, Any], web_url: str | None = None) -> Contact:
    person = data.get("main_contact_person") or {}
    return Contact(
        id=str(data["id"]),
        name=str(data.get("name") or ""),
        email=str(data.get("email") or person.get("email") or ""),
        # Older answers lack ``is_active`` (added in the 2025 spec): absent means active.
        active=data.get("is_active") is not False,
        url=web_link_from(data.get("links"), web_url),
        updated_at=stamps.iso(data.get("updated_at")),
    )


def to_fields(data: dict[str, Any]) -> ContactFields:
    """The reverse mapping, for bulk import (nested entities read with nested_attributes=all)."""
    address = data.get("main_address") or {}
    person = data.get("main_contact_person") or {}
    country = address.get("country") or {}
    return ContactFields(
        name=_text(data.get("name")),
        address_line1=_text(address.get("address_line_1")),
        address_line2=_text(address.get("address_line_2")),
        city=_text(address.get("city")),
        region=_text(address.get("region")),
        postcode=_text(address.get("postal_code")),
        country=_text(country.get("displayed_as")),
        country_code=_text(country.get("id") or address.get("country_id")),
        email=_text(person.get("email") or data.get("email")),
        phone=_text(person.get("telephone")),
        mobile=_text(person.get("mobile")),
        fax=_text(person.get("fax")),
        tax_number=_text(data.get("tax_number")),
        account_number=_text(data.get("reference")),
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value)
