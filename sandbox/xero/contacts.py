"""Xero contacts as the stand-in stores, validates and echoes them.

Shapes follow the official spec (``Contact``, ``Address``, ``Phone``; tests/specs/
xero_accounting.yaml) and providers.md A2/A3. Pure functions over plain dicts: the store
(``state.py``) holds the lock and decides what is saved.
"""
from __future__ import annotations

import re
import time
import uuid
from typing import Any

ADDRESS_TYPES = ("STREET", "POBOX")
#: Responses always echo these four phone slots, in the order of the spec's PUT example (A2).
PHONE_SLOTS = ("DEFAULT", "DDI", "FAX", "MOBILE")
PHONE_TYPES = PHONE_SLOTS + ("OFFICE",)
STATUSES = ("ACTIVE", "ARCHIVED", "GDPRREQUEST")
ZERO_ID = "00000000-0000-0000-0000-000000000000"

#: Exact text of the spec's 400 examples for PUT and POST /Contacts (providers.md A3).
NAME_TAKEN = (
    "The contact name {name} is already assigned to another contact. "
    "The contact name must be unique across all active contacts."
)
#: Observed (calcinai/xero-php #880), not in the spec: unconfirmed wording.
ACCOUNT_NUMBER_TAKEN = "The Account Number already exists. Please enter a different Account Number."
#: Observed (waynerobinson/xeroizer #380).
NAME_EMPTY = "Contact Name cannot be empty."
#: Unconfirmed wording for the two checks below.
EMAIL_INVALID = "Email address must be valid."
TOO_LONG = "{field} must not be more than {limit} characters long."

#: Read-only echo fields. Older reports say sending them back was refused (pyxero PR #105,
#: Xero-Net #257; A3), but the spec lists them as plain properties and the official xero-python
#: SDK sends ``HasValidationErrors: false`` and ``HasAttachments: false`` on every write, so the
#: real API must take them: they are accepted and ignored, like every read-only property
#: (``apply`` copies only what it stores).
ECHO_ONLY = frozenset({"HasValidationErrors", "StatusAttributeString", "ValidationErrors"})
#: Every property of the spec's ``Contact`` schema; anything else in a write is not recognised.
CONTACT_PROPERTIES = frozenset({
    "ContactID", "MergedToContactID", "ContactNumber", "AccountNumber", "ContactStatus", "Name",
    "FirstName", "LastName", "CompanyNumber", "EmailAddress", "ContactPersons",
    "BankAccountDetails", "TaxNumber", "TaxNumberType", "AccountsReceivableTaxType",
    "AccountsPayableTaxType", "Addresses", "Phones", "IsSupplier", "IsCustomer",
    "SalesDefaultLineAmountType", "PurchasesDefaultLineAmountType", "DefaultCurrency",
    "XeroNetworkKey", "SalesDefaultAccountCode", "PurchasesDefaultAccountCode",
    "SalesTrackingCategories", "PurchasesTrackingCategories", "TrackingCategoryName",
    "TrackingCategoryOption", "PaymentTerms", "UpdatedDateUTC", "ContactGroups", "Website",
    "BrandingTheme", "BatchPayments", "Discount", "Balances", "Attachments", "HasAttachments",
}) | ECHO_ONLY
#: Plain text fields the stand-in stores, with their spec ``maxLength``.
TEXT_FIELDS = {
    "Name": 255, "FirstName": 255, "LastName": 255, "EmailAddress": 255, "ContactNumber": 50,
    "AccountNumber": 50, "CompanyNumber": 50, "TaxNumber": 50, "BankAccountDetails": 255,
}
#: Shown even when empty, as in the spec examples; the other text fields only when set.
ALWAYS_SHOWN = ("Name", "EmailAddress", "BankAccountDetails", "TaxNumber")
ADDRESS_FIELDS = {
    "AddressLine1": 500, "AddressLine2": 500, "AddressLine3": 500, "AddressLine4": 500,
    "City": 255, "Region": 255, "PostalCode": 50, "Country": 50, "AttentionTo": 255,
}
PHONE_FIELDS = {"PhoneNumber": 50, "PhoneAreaCode": 10, "PhoneCountryCode": 20}
#: Copied from a write as given (stored, echoed back); every other writable key is accepted
#: and ignored (tax types, tracking...): this integration never sends them. ``PaymentTerms``
#: and the two defaults before it are the integration's ``defaults`` (interface §11).
#: ``ContactGroups`` is not among them: a contact joins a group through the group
#: (``sandbox.xero.settings``); whether a Contact write can set it is unconfirmed.
KEPT_AS_GIVEN = ("ContactPersons", "TaxNumberType", "DefaultCurrency", "SalesDefaultAccountCode",
                 "PaymentTerms")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class PostDataInvalid(Exception):
    """Raised when a write body cannot be read; Xero refuses the whole request (ErrorNumber 14)."""


def msdate(at: float | None = None) -> str:
    """Xero's ``/Date(ms+0000)/`` timestamp."""
    return f"/Date({int((time.time() if at is None else at) * 1000)}+0000)/"


def msdate_seconds(stamp: str) -> float:
    """Epoch seconds of a ``/Date(ms+0000)/`` stamp."""
    match = re.search(r"\((-?\d+)", stamp)
    return int(match.group(1)) / 1000 if match else 0.0


def new_contact_id() -> str:
    """Lowercase GUID with dashes, as in the spec examples (A2)."""
    return str(uuid.uuid4())


def blank_contact(contact_id: str) -> dict[str, Any]:
    """A stored contact before any field is written."""
    return {
        "ContactID": contact_id, "ContactStatus": "ACTIVE", **{k: "" for k in TEXT_FIELDS},
        "Addresses": {t: {k: "" for k in ADDRESS_FIELDS} for t in ADDRESS_TYPES},
        "Phones": {t: {k: "" for k in PHONE_FIELDS} for t in PHONE_SLOTS},
        "ContactPersons": [], "ContactGroups": [], "MergedToContactID": None,
        "UpdatedDateUTC": msdate(),
    }


def check_element(element: Any) -> None:
    """Refuse what Xero cannot read: unknown elements, echo fields, wrong types."""
    if not isinstance(element, dict):
        raise PostDataInvalid("JSON for post data was invalid, a Contact must be an object.")
    for key, value in element.items():
        if key not in CONTACT_PROPERTIES:
            # Wording after pyxero PR #105 ("The element '…' was not recognised"): unconfirmed.
            raise PostDataInvalid(f"The element '{key}' was not recognised.")
        if key in TEXT_FIELDS and value is not None and not isinstance(value, str):
            raise PostDataInvalid(f"JSON for post data was invalid, {key} must be a string.")
    if element.get("ContactStatus") not in (None, *STATUSES):
        raise PostDataInvalid(f"JSON for post data was invalid, ContactStatus "
                              f"'{element['ContactStatus']}' is not a valid value.")
    _check_slots(element.get("Addresses"), "AddressType", ADDRESS_TYPES, ADDRESS_FIELDS)
    _check_slots(element.get("Phones"), "PhoneType", PHONE_TYPES, PHONE_FIELDS)


def _check_slots(items: Any, type_key: str, types: tuple[str, ...], known: dict[str, int]) -> None:
    if items is None:
        return
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise PostDataInvalid(f"JSON for post data was invalid, {type_key[:-4]}es must be a list.")
    for item in items:
        if item.get(type_key) not in types:
            raise PostDataInvalid(f"JSON for post data was invalid, {type_key} "
                                  f"'{item.get(type_key)}' is not a valid value.")
        for key in item:
            if key not in known and key not in (type_key, "ValidationErrors"):
                raise PostDataInvalid(f"The element '{key}' was not recognised.")


def apply(contact: dict[str, Any], element: dict[str, Any]) -> dict[str, Any]:
    """The stored contact after ``element`` is written onto a copy of it.

    Keys absent from the element are left as they are; an address or phone given replaces
    that whole slot (keys it leaves out become empty; unconfirmed, see the README)."""
    merged = {**contact, "Addresses": dict(contact["Addresses"]), "Phones": dict(contact["Phones"])}
    for key in TEXT_FIELDS:
        if key in element:
            merged[key] = (element[key] or "").strip()
    if element.get("ContactStatus"):
        merged["ContactStatus"] = element["ContactStatus"]
    for address in element.get("Addresses") or []:
        merged["Addresses"][address["AddressType"]] = _slot(address, ADDRESS_FIELDS)
    for phone in element.get("Phones") or []:
        merged["Phones"][phone["PhoneType"]] = _slot(phone, PHONE_FIELDS)
    for key in KEPT_AS_GIVEN:
        if key in element:
            merged[key] = element[key]
    return merged


def _slot(given: dict[str, Any], known: dict[str, int]) -> dict[str, str]:
    return {k: str(given.get(k) or "") for k in known}


def field_errors(contact: dict[str, Any]) -> list[str]:
    """Validation messages that do not depend on other contacts."""
    errors = [] if contact["Name"] else [NAME_EMPTY]
    email = contact["EmailAddress"]
    if email and not _EMAIL.match(email):
        errors.append(EMAIL_INVALID)
    errors += _too_long(contact, TEXT_FIELDS)
    for slot in [*contact["Addresses"].values()]:
        errors += _too_long(slot, ADDRESS_FIELDS)
    for slot in [*contact["Phones"].values()]:
        errors += _too_long(slot, PHONE_FIELDS)
    return errors


def _too_long(values: dict[str, Any], limits: dict[str, int]) -> list[str]:
    return [TOO_LONG.format(field=k, limit=n) for k, n in limits.items() if len(values[k]) > n]


def render(contact: dict[str, Any], *, with_merge: bool = False,
           summary: bool = False) -> dict[str, Any]:
    """The contact as the API answers it (spec GET/PUT examples)."""
    shown: dict[str, Any] = {"ContactID": contact["ContactID"],
                             "ContactStatus": contact["ContactStatus"]}
    for key in TEXT_FIELDS:
        if key in ALWAYS_SHOWN or contact[key]:
            shown[key] = contact[key]
    if with_merge and contact.get("MergedToContactID"):
        # Spec: "Only returned when using paging or when fetching a contact by ContactId".
        shown["MergedToContactID"] = contact["MergedToContactID"]
    if not summary:
        shown["Addresses"] = [_render_address(t, a) for t, a in contact["Addresses"].items()]
        shown["Phones"] = [{"PhoneType": t, **p} for t, p in contact["Phones"].items()]
    shown.update({
        "UpdatedDateUTC": contact["UpdatedDateUTC"], "ContactGroups": contact["ContactGroups"],
        "IsSupplier": False, "IsCustomer": False, "HasAttachments": False,
        "HasValidationErrors": False,
    })
    if not summary:
        shown["ContactPersons"] = contact["ContactPersons"]
    for key in ("DefaultCurrency", "SalesDefaultAccountCode", "PaymentTerms"):
        if contact.get(key):
            shown[key] = contact[key]
    return shown


def _render_address(address_type: str, address: dict[str, str]) -> dict[str, str]:
    # The spec's STREET example leaves out empty address lines but always shows the rest.
    lines = {k: v for k, v in address.items() if v or not k.startswith("AddressLine")}
    return {"AddressType": address_type, **lines}


def echo(element: dict[str, Any], contact_id: str, messages: list[str]) -> dict[str, Any]:
    """A refused element as Xero returns it: the request echoed, with its errors (A3 example)."""
    echoed = {"ContactID": contact_id, **{k: v for k, v in element.items() if k != "ContactID"}}
    for key in ("Addresses", "Phones"):
        if key in echoed:
            echoed[key] = [{**item, "ValidationErrors": []} for item in echoed[key]]
    echoed["HasValidationErrors"] = True
    echoed["ValidationErrors"] = [{"Message": m} for m in messages]
    return echoed
