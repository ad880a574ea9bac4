"""The Customer entity's writable fields, their checks, and its JSON as QuickBooks answers it.

Field list and lengths from the Intuit Customer entity (providers.md §B2). A record is kept as a
plain dict of the writable fields plus ``Id``, ``SyncToken``, ``Active`` and ``MetaData``; the
answer adds the derived fields of the documented response and masks ``PrimaryTaxIdentifier``.
"""
from __future__ import annotations

import copy
import re
from typing import Any

from sandbox.quickbooks import faults

#: Plain string fields and their maximum lengths (§B2).
STRINGS = {
    "DisplayName": 500, "CompanyName": 100, "GivenName": 100, "MiddleName": 100,
    "FamilyName": 100, "Title": 16, "Suffix": 16, "PrintOnCheckName": 110, "Notes": 2000,
    "PrimaryTaxIdentifier": 20, "SecondaryTaxIdentifier": 20, "ResaleNum": 16,
}
#: Object fields: {inner key: max length}.
OBJECTS = {
    "PrimaryEmailAddr": {"Address": 100},
    "PrimaryPhone": {"FreeFormNumber": 30},
    "AlternatePhone": {"FreeFormNumber": 30},
    "Mobile": {"FreeFormNumber": 30},
    "Fax": {"FreeFormNumber": 30},
    "WebAddr": {"URI": 1000},
    # Reference types ({value, name}); the value must name a record of the realm (``refs``).
    "CurrencyRef": {"value": 16, "name": 100, "type": 50},
    "SalesTermRef": {"value": 16, "name": 100, "type": 50},
}
#: Reference fields and the realm list their ``value`` must be found in.
REFERENCES = {"CurrencyRef": "currencies", "SalesTermRef": "terms"}
#: ``Note`` is in Intuit's PhysicalAddress schema (python-quickbooks sends it, empty, on every
#: address); its length limit is unconfirmed, so the Lines' 500 is used.
ADDRESS = {
    "Id": 20, "Note": 500, "Line1": 500, "Line2": 500, "Line3": 500, "Line4": 500, "Line5": 500,
    "City": 255, "Country": 255, "CountrySubDivisionCode": 255, "PostalCode": 30,
    "Lat": 50, "Long": 50,
}
ADDRESSES = ("BillAddr", "ShipAddr")
BOOLEANS = ("Active", "Taxable", "Job", "BillWithParent")
#: Dates (``YYYY-MM-DD``) of the Customer entity. python-quickbooks sends ``OpenBalanceDate``
#: as ``""`` on every Customer: empty is "not set".
DATES = ("OpenBalanceDate",)
#: Read-only, or sent back by clients that echo a read: accepted and ignored. ``IsProject`` is
#: read-only in Intuit's schema and python-quickbooks sends it on every Customer (issue 17, gap 5).
READ_ONLY = (
    "Id", "SyncToken", "sparse", "domain", "MetaData", "FullyQualifiedName", "Balance",
    "BalanceWithJobs", "Level", "time", "IsProject",
)
#: Writable fields that take one of a few values (Intuit's Customer entity: "Print, Email, or
#: None"); the refusal's code and wording are unconfirmed.
ENUMS = {"PreferredDeliveryMethod": ("Print", "Email", "None")}
NAME_PARTS = ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")
#: "No ':', tab or newline" in these (§B2).
NO_SEPARATORS = ("DisplayName", "PrintOnCheckName", *NAME_PARTS)
WRITABLE = (*STRINGS, *OBJECTS, *ADDRESSES, *BOOLEANS, *DATES, *ENUMS)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def is_empty(value: Any) -> bool:
    """An empty string, null, or an object whose every value is empty: the field is cleared."""
    if isinstance(value, dict):
        return all(is_empty(v) for k, v in value.items() if k != "Id")
    return value is None or value == ""


def validate(body: dict[str, Any]) -> None:
    """Raise ``FaultError`` for an unknown property, an over-long value or a forbidden character."""
    for name, value in body.items():
        if name in READ_ONLY:
            continue
        if name not in WRITABLE:
            raise faults.unsupported(name)
        if is_empty(value) or name in BOOLEANS:
            continue
        _check_value(name, value)


def _check_value(name: str, value: Any) -> None:
    if name in ENUMS:
        if value not in ENUMS[name]:
            raise faults.unsupported(name)
        return
    if name in DATES:
        if not _DATE.match(str(value)):
            # Code and wording unconfirmed: a malformed date is an invalid property value.
            raise faults.unsupported(name)
        return
    if name in STRINGS:
        _check_length(name, str(value), STRINGS[name])
        if name in NO_SEPARATORS and any(c in str(value) for c in ":\t\n\r"):
            raise faults.business_rule(name, f"{name} cannot contain a colon (:), tab or newline.")
        return
    limits = ADDRESS if name in ADDRESSES else OBJECTS[name]
    if not isinstance(value, dict):
        raise faults.unsupported(name)
    for key, inner in value.items():
        if key not in limits:
            raise faults.unsupported(f"{name}.{key}")
        _check_length(f"{name}.{key}", str(inner or ""), limits[key])
    address = str(value.get("Address") or "") if name == "PrimaryEmailAddr" else ""
    if address and ("@" not in address or "." not in address):
        raise faults.business_rule(name, "Email Address does not conform to the syntax rules.")


def _check_length(name: str, value: str, maximum: int) -> None:
    if len(value) > maximum:
        raise faults.bad_length(name, maximum, len(value))


def display_name(body: dict[str, Any]) -> str:
    """The DisplayName given, else generated from the name parts (§B2), else ``""``."""
    given = str(body.get("DisplayName") or "").strip()
    if given:
        return given
    return " ".join(str(body[p]).strip() for p in NAME_PARTS if body.get(p)).strip()


def apply(record: dict[str, Any], body: dict[str, Any], *, sparse: bool, next_id: Any) -> None:
    """Write ``body`` onto ``record``. A full update sets every omitted writable field to NULL."""
    if not sparse:
        for name in WRITABLE:
            if name not in body and name not in ("Active", "DisplayName"):
                record.pop(name, None)
    for name in WRITABLE:
        if name not in body:
            continue
        value = body[name]
        if name in BOOLEANS:
            record[name] = bool(value)
        elif is_empty(value):
            record.pop(name, None)
        elif name in ADDRESSES:
            kept_id = (record.get(name) or {}).get("Id") or next_id()
            kept = {k: v for k, v in value.items() if v not in (None, "")}
            record[name] = {**kept, "Id": kept_id}
        else:
            record[name] = copy.deepcopy(value) if isinstance(value, dict) else str(value)


def render(record: dict[str, Any]) -> dict[str, Any]:
    """The Customer as the API answers it (§B1 response), tax number masked (§B2)."""
    answer: dict[str, Any] = {
        "domain": "QBO", "sparse": False, "Job": False, "BillWithParent": False,
        "Taxable": True, "Balance": 0, "BalanceWithJobs": 0, "PreferredDeliveryMethod": "Print",
        "CurrencyRef": {"name": "United States Dollar", "value": "USD"},
    }
    answer.update(copy.deepcopy(record))
    answer["FullyQualifiedName"] = record["DisplayName"]
    answer["PrintOnCheckName"] = record.get("PrintOnCheckName") or record.get(
        "CompanyName", record["DisplayName"]
    )
    tax = record.get("PrimaryTaxIdentifier")
    if tax:
        answer["PrimaryTaxIdentifier"] = mask(tax)
    return answer


def mask(value: str) -> str:
    """``XXXXXX56789``: only the last five characters are shown (§B2)."""
    return "X" * max(0, len(value) - 5) + value[-5:]
