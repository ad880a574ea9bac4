"""What a Xero organisation offers a new contact's defaults: currencies, accounts, contact groups.

``GET /Currencies``, ``GET /Accounts`` and ``GET``/``PUT /ContactGroups`` (with ``GET
/ContactGroups/{id}`` and ``PUT``/``DELETE /ContactGroups/{id}/Contacts``), as the spec names
them. Every organisation of the stand-in is a New Zealand one (base currency NZD, as its
``/Organisation`` says) with three more currencies turned on and a small standard chart of
accounts. A contact's ``DefaultCurrency`` and ``SalesDefaultAccountCode`` must name one of these
(the wording of Xero's refusals is unconfirmed); it joins a group only through the group's
``Contacts`` route, the documented way.
"""
from __future__ import annotations

import uuid
from typing import Any

#: ``Code`` -> ``Description`` (spec ``Currency``).
CURRENCIES = {"NZD": "New Zealand Dollar", "AUD": "Australian Dollar", "GBP": "Pound Sterling",
              "USD": "United States Dollar"}
#: A few accounts of Xero's default NZ chart: (Code, Name, Type, Class, Status).
ACCOUNTS = (
    ("200", "Sales", "REVENUE", "REVENUE", "ACTIVE"),
    ("260", "Other Revenue", "REVENUE", "REVENUE", "ACTIVE"),
    ("270", "Interest Income", "REVENUE", "REVENUE", "ACTIVE"),
    ("210", "Old Sales", "REVENUE", "REVENUE", "ARCHIVED"),
    ("400", "Advertising", "EXPENSE", "EXPENSE", "ACTIVE"),
)
#: Unconfirmed wording of the refusals of an unknown currency or account code.
UNKNOWN_CURRENCY = "The currency code '{code}' is not a valid currency for this organisation."
UNKNOWN_ACCOUNT = "The account code '{code}' is not a valid active account."
_ACCOUNT_IDS = {code: str(uuid.uuid5(uuid.NAMESPACE_URL, f"xero-sandbox-account-{code}"))
                for code, *_ in ACCOUNTS}


def currencies() -> list[dict[str, str]]:
    return [{"Code": code, "Description": name} for code, name in CURRENCIES.items()]


def accounts() -> list[dict[str, Any]]:
    return [{"AccountID": _ACCOUNT_IDS[code], "Code": code, "Name": name, "Type": kind,
             "Class": klass, "Status": status, "TaxType": "OUTPUT2", "EnablePaymentsToAccount": False,
             "ShowInExpenseClaims": False, "HasAttachments": False}
            for code, name, kind, klass, status in ACCOUNTS]


def default_errors(contact: dict[str, Any]) -> list[str]:
    """Refusals of a contact's defaults that the organisation does not have."""
    errors = []
    currency = contact.get("DefaultCurrency")
    if currency and currency not in CURRENCIES:
        errors.append(UNKNOWN_CURRENCY.format(code=currency))
    code = contact.get("SalesDefaultAccountCode")
    if code and not any(c == code and status == "ACTIVE" for c, *_, status in ACCOUNTS):
        errors.append(UNKNOWN_ACCOUNT.format(code=code))
    return errors


def new_group(name: str) -> dict[str, Any]:
    return {"ContactGroupID": str(uuid.uuid4()), "Name": name, "Status": "ACTIVE",
            "contact_ids": []}


def group_summary(group: dict[str, Any]) -> dict[str, Any]:
    """A group as a contact's ``ContactGroups`` shows it, and as ``GET /ContactGroups`` lists it."""
    return {"ContactGroupID": group["ContactGroupID"], "Name": group["Name"],
            "Status": group["Status"], "HasValidationErrors": False}
