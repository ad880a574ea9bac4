"""Contact records: validating and applying ``{"contact": {...}}`` bodies, and rendering them.

Writes follow ``postContacts`` / ``putContacts`` in the v3.1 Swagger; reads follow ``Contact``.
A PUT changes only the attributes it carries (partial update, providers.md §C1, inferred); an
empty string clears a text attribute, which then reads back as ``null``.
"""
from __future__ import annotations

import re
from typing import Any

from sandbox.sage import fields
from sandbox.sage.errors import RECORD_INVALID, REFERENCE_TAKEN, sage_error
from sandbox.sage.state import new_id, now_iso

#: Writable text attributes of the contact itself (``postContacts``).
CONTACT_TEXT = tuple(fields.CONTACT_TEXT)
#: Writable attributes of ``main_address`` (and ``delivery_address``).
ADDRESS_TEXT = tuple(fields.ADDRESS_TEXT)
#: Writable attributes of ``main_contact_person`` (``ContactPerson``).
PERSON_TEXT = tuple(fields.PERSON_TEXT)
#: Other writable attributes, stored as given once checked (``fields.value_errors``).
KEPT_AS_GIVEN = ("credit_limit", "credit_days", "credit_terms", "destination_vat_blocking")
CONTACT_TYPES = {"CUSTOMER": "Customer", "VENDOR": "Supplier"}
#: Default web app host of the ``alternate`` link (UK/IE; US/CA use accounting.na.sageone.com).
DEFAULT_WEB_URL = "https://accounts-extra.sageone.com"

_COUNTRY_ID = re.compile(r"^[A-Z]{2}$")
_IDEMPOTENCY_ID = re.compile(r"^[0-9a-fA-F]{32}$")


def validate(contact: Any, existing: dict[str, dict[str, Any]], *, own_id: str | None,
             creating: bool) -> list[dict[str, str]]:
    """The 422 errors for a write, in Sage's shape; empty when the write is valid."""
    if not isinstance(contact, dict):
        return [sage_error(RECORD_INVALID, "param is missing or the value is empty: contact",
                           "contact")]
    errors: list[dict[str, str]] = []
    if creating or "name" in contact:
        if not str(contact.get("name") or "").strip():
            errors.append(sage_error(RECORD_INVALID, "Name can't be blank", "name"))
    if creating or "contact_type_ids" in contact:
        errors.extend(_type_errors(contact.get("contact_type_ids")))
    errors.extend(_detail_errors(contact))
    errors.extend(fields.length_errors(contact))
    errors.extend(fields.value_errors(contact))
    if _reference_taken(contact.get("reference"), existing, own_id):
        errors.append(sage_error(RECORD_INVALID, REFERENCE_TAKEN, "reference"))
    return errors


def _type_errors(type_ids: Any) -> list[dict[str, str]]:
    # "It has to be either CUSTOMER or VENDOR" (Contact.contact_types).
    if not isinstance(type_ids, list) or not type_ids:
        return [sage_error(RECORD_INVALID, "Contact types can't be blank", "contact_type_ids")]
    if any(type_id not in CONTACT_TYPES for type_id in type_ids):
        return [sage_error(RECORD_INVALID, "Contact type is invalid", "contact_type_ids")]
    return []


def _detail_errors(contact: dict[str, Any]) -> list[dict[str, str]]:
    errors = []
    country = str((contact.get("main_address") or {}).get("country_id") or "")
    if country and not _COUNTRY_ID.match(country):
        errors.append(sage_error(RECORD_INVALID, "Country is invalid", "main_address.country_id"))
    email = str((contact.get("main_contact_person") or {}).get("email") or "")
    if email and "@" not in email:
        errors.append(sage_error(RECORD_INVALID, "Email is invalid", "main_contact_person.email"))
    key = contact.get("idempotency_id")
    if key is not None and not _IDEMPOTENCY_ID.match(str(key)):
        errors.append(sage_error(RECORD_INVALID, "Idempotency id is invalid", "idempotency_id"))
    return errors


def _reference_taken(reference: Any, existing: dict[str, dict[str, Any]],
                     own_id: str | None) -> bool:
    """"Unique reference for the contact" (spec). Compared trimmed and case-insensitively, among
    active and inactive contacts alike: the stricter reading, since Sage's exact rule is
    unconfirmed."""
    wanted = str(reference or "").strip().casefold()
    if not wanted:
        return False
    return any(
        contact_id != own_id and str(record.get("reference") or "").strip().casefold() == wanted
        for contact_id, record in existing.items()
    )


def new_record(numeric_id: int) -> dict[str, Any]:
    stamp = now_iso()
    return {
        "id": new_id(), "numeric_id": numeric_id, "contact_type_ids": [], "is_active": True,
        "main_address": {"id": new_id()}, "main_contact_person": {"id": new_id()},
        "created_at": stamp, "updated_at": stamp,
    }


def apply(record: dict[str, Any], contact: dict[str, Any]) -> None:
    """Merge the attributes ``contact`` carries into ``record`` (create and partial update)."""
    for key in CONTACT_TEXT:
        if key in contact:
            record[key] = _text(contact[key])
    if "contact_type_ids" in contact:
        record["contact_type_ids"] = list(dict.fromkeys(contact["contact_type_ids"]))
    for key in KEPT_AS_GIVEN:
        if key in contact:
            record[key] = contact[key]
    for written in fields.LINKS:
        if written in contact:
            record[written] = _text(contact[written])
    _merge(record["main_address"], contact.get("main_address"), ADDRESS_TEXT)
    _merge(record["main_contact_person"], contact.get("main_contact_person"), PERSON_TEXT)
    if isinstance(contact.get("delivery_address"), dict):
        record.setdefault("delivery_address", {"id": new_id()})
        _merge(record["delivery_address"], contact["delivery_address"], ADDRESS_TEXT)
    if isinstance(contact.get("bank_account_details"), dict):
        record.setdefault("bank_account_details", {})
        _merge(record["bank_account_details"], contact["bank_account_details"], fields.BANK_TEXT)
    if isinstance(contact.get("tax_treatment"), dict):
        given = contact["tax_treatment"]
        record["tax_treatment"] = {k: bool(given.get(k)) for k in fields.TAX_TREATMENT}
    record["updated_at"] = now_iso()


def _merge(target: dict[str, Any], source: Any, keys: tuple[str, ...]) -> None:
    if not isinstance(source, dict):
        return
    for key in keys:
        if key in source:
            target[key] = _text(source[key])


def _text(value: Any) -> str | None:
    text = "" if value is None else str(value)
    return text if text.strip() else None


# -- reads ------------------------------------------------------------------------------
def displayed_as(record: dict[str, Any]) -> str:
    """"Name (REF)", as Sage shows a contact with a reference (public example)."""
    reference = record.get("reference")
    return f"{record.get('name')} ({reference})" if reference else str(record.get("name"))


def base(record: dict[str, Any]) -> dict[str, Any]:
    return {"id": record["id"], "displayed_as": displayed_as(record),
            "$path": f"/contacts/{record['id']}"}


def render(record: dict[str, Any], *, web_url: str, attributes: set[str] | None,
           nested: bool) -> dict[str, Any]:
    """The ``Contact`` JSON. ``attributes`` None means all of them; a set names the extras
    wanted beyond id/displayed_as/$path (the ``attributes`` query parameter). Nested entities
    show only their base attributes unless ``nested`` (``nested_attributes=all``)."""
    full = {**base(record), **_attributes(record, web_url=web_url, nested=nested)}
    if attributes is None:
        return full
    return {key: value for key, value in full.items()
            if key in ("id", "displayed_as", "$path") or key in attributes}


def _attributes(record: dict[str, Any], *, web_url: str, nested: bool) -> dict[str, Any]:
    """Every attribute of the Swagger's ``Contact`` (all 44 with the base three; issue 17,
    gap 8). Unset values read ``null``, as Sage answers them; a contact trades in the
    business's currency unless another is set."""
    person = record["main_contact_person"]
    links = {read: _linked(record.get(written), plural)
             for written, (read, plural) in fields.LINKS.items() if read != "currency"}
    delivery = record.get("delivery_address")
    return {
        "created_at": record["created_at"], "updated_at": record["updated_at"],
        "links": [_web_link(record, web_url)], "deleted_at": record.get("deleted_at"),
        "balance": 0.0,
        "contact_types": [_contact_type(type_id) for type_id in record["contact_type_ids"]],
        **{key: record.get(key) for key in CONTACT_TEXT},
        **links,
        "main_address": _address(record["main_address"], nested),
        "delivery_address": _address(delivery, nested, main=False) if delivery else None,
        "main_contact_person": _person(record, nested),
        "bank_account_details": _bank(record.get("bank_account_details")),
        **{key: record.get(key) for key in KEPT_AS_GIVEN if key != "destination_vat_blocking"},
        "currency": fields.currency_base(record.get("currency_id") or fields.BASE_CURRENCY),
        "deletable": True,
        "tax_treatment": record.get("tax_treatment") or _home_tax(),
        "email": person.get("email"),  # read-only: the main contact person's email
        "system": False, "gdpr_obfuscated": False, "has_unfinished_recurring_invoices": False,
        "cis_registered": False, "ni_based": False, "gb_based": True, "cis_settings": None,
        "destination_vat_blocking": bool(record.get("destination_vat_blocking")),
        "is_active": record["is_active"],
    }


def _linked(record_id: str | None, plural: str) -> dict[str, str] | None:
    # The stand-in holds no ledger accounts, tax rates or price types: the id given is echoed.
    if not record_id:
        return None
    return {"id": record_id, "displayed_as": record_id, "$path": f"/{plural}/{record_id}"}


def _bank(details: dict[str, Any] | None) -> dict[str, Any] | None:
    if not details:
        return None
    return {key: details.get(key) for key in fields.BANK_TEXT}


def _home_tax() -> dict[str, bool]:
    return {"home_tax": True, "eu_tax_registered": False, "eu_not_tax_registered": False,
            "rest_of_world_tax": False, "is_importer": False}


def _web_link(record: dict[str, Any], web_url: str) -> dict[str, str]:
    # The web app's numeric id is not the API id (providers.md §C7); vendors' path unconfirmed.
    kind = "customers" if "CUSTOMER" in record["contact_type_ids"] else "vendors"
    return {"href": f"{web_url}/contacts/{kind}/{record['numeric_id']}",
            "rel": "alternate", "type": "text/html"}


def _contact_type(type_id: str) -> dict[str, str]:
    return {"id": type_id, "displayed_as": CONTACT_TYPES.get(type_id, type_id),
            "$path": f"/contact_types/{type_id}"}


def _address(address: dict[str, Any], nested: bool, *, main: bool = True) -> dict[str, Any]:
    lines = [address.get(k) for k in ("address_line_1", "address_line_2", "city", "region",
                                      "postal_code")]
    summary = {"id": address["id"], "displayed_as": "\n".join(p for p in lines if p),
               "$path": f"/addresses/{address['id']}"}
    if not nested:
        return summary
    country_id = address.get("country_id")
    country = ({"id": country_id, "displayed_as": country_id, "$path": f"/countries/{country_id}"}
               if country_id else None)
    shown = {k: address.get(k) for k in ADDRESS_TEXT if k != "country_id"}
    return {**summary, **shown, "country": country, "is_main_address": main,
            "address_type": {"id": "DELIVERY", "displayed_as": "Delivery",
                             "$path": "/address_types/DELIVERY"}}


def _person(record: dict[str, Any], nested: bool) -> dict[str, Any]:
    person = record["main_contact_person"]
    summary = {"id": person["id"], "displayed_as": person.get("name") or "",
               "$path": f"/contact_persons/{person['id']}"}
    if not nested:
        return summary
    return {**summary, **{k: person.get(k) for k in PERSON_TEXT},
            "is_main_contact": True, "is_preferred_contact": False}


def matches(record: dict[str, Any], *, search: str, email: str, type_id: str,
            only_active: bool) -> bool:
    """The ``GET /contacts`` filters: ``search`` over name and reference (substring,
    case-insensitive), ``email`` of the contact person, ``contact_type_id``, and
    ``filter_inactive_contacts``."""
    if only_active and not record["is_active"]:
        return False
    if type_id and type_id not in record["contact_type_ids"]:
        return False
    person_email = str(record["main_contact_person"].get("email") or "")
    if email and person_email.casefold() != email.casefold():
        return False
    haystack = f"{record.get('name') or ''}\n{record.get('reference') or ''}".casefold()
    return search.casefold() in haystack
