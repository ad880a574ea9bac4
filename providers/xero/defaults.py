"""Xero's defaults for new contacts and custom-field targets (spec ``Contact``; providers.md §A).

| key | Contact field | checked against |
|---|---|---|
| ``default_currency`` | ``DefaultCurrency`` | ``GET /Currencies`` (the organisation's currencies) |
| ``sales_account_code`` | ``SalesDefaultAccountCode`` | ``GET /Accounts`` (active accounts) |
| ``contact_group`` | joins the group after the create: ``PUT /ContactGroups/{id}/Contacts`` | ``GET /ContactGroups`` (active groups, by name) |
| ``payment_terms`` | ``PaymentTerms.Sales`` ``{"Day", "Type"}`` | form only (spec enum ``PaymentTermType``) |
"""
from __future__ import annotations

from typing import Any

from core.models import same_name
from providers.base import AccountingProvider
from providers.defaults import CustomTarget, DefaultKey
from providers.field_limits import Limit

PAYMENT_TERM_TYPES = ("DAYSAFTERBILLDATE", "DAYSAFTERBILLMONTH", "OFCURRENTMONTH", "OFFOLLOWINGMONTH")


def _text(max_length: int) -> Any:
    def form(value: Any) -> str | None:
        if not isinstance(value, str) or not value.strip() or len(value) > max_length:
            return f"a text of 1 to {max_length} characters"
        return None
    return form


def _currency_form(value: Any) -> str | None:
    if not isinstance(value, str) or len(value.strip()) != 3 or not value.strip().isalpha():
        return "a three-letter currency code (ISO 4217)"
    return None


def _terms_form(value: Any) -> str | None:
    if (not isinstance(value, dict) or set(value) != {"day", "type"}
            or not isinstance(value["day"], int) or isinstance(value["day"], bool)
            or not 0 <= value["day"] <= 31 or value["type"] not in PAYMENT_TERM_TYPES):
        return f'{{"day": 0 to 31, "type": one of {", ".join(PAYMENT_TERM_TYPES)}}}'
    return None


def _get(provider: AccountingProvider, path: str, key: str, **params: str) -> list[dict[str, Any]]:
    answer = provider.api.request("GET", path, params=params or None).json()  # type: ignore[attr-defined]
    return list(answer.get(key) or [])


def currency_exists(provider: AccountingProvider, value: str) -> str | None:
    codes = {str(c.get("Code", "")).upper() for c in _get(provider, "Currencies", "Currencies")}
    return value.strip().upper() if value.strip().upper() in codes else None


def account_exists(provider: AccountingProvider, value: str) -> str | None:
    accounts = _get(provider, "Accounts", "Accounts", where='Status=="ACTIVE"')
    return next((str(a["Code"]) for a in accounts
                 if str(a.get("Code") or "").casefold() == value.strip().casefold()
                 and a.get("Status", "ACTIVE") == "ACTIVE"), None)


def group_exists(provider: AccountingProvider, value: str) -> dict[str, str] | None:
    groups = _get(provider, "ContactGroups", "ContactGroups", where='Status=="ACTIVE"')
    found = next((g for g in groups if same_name(str(g.get("Name") or ""), value)
                  and g.get("Status", "ACTIVE") == "ACTIVE"), None)
    return {"id": str(found["ContactGroupID"]), "name": str(found["Name"])} if found else None


def join_group(provider: AccountingProvider, resolved: dict[str, str], contact_ids: list[str]) -> None:
    """After the creates: the new contacts join their default group, all in one call (Xero sets
    groups only this way; the call takes a list of contacts)."""
    provider.api.request(  # type: ignore[attr-defined]
        "PUT", f"ContactGroups/{resolved['id']}/Contacts",
        json={"Contacts": [{"ContactID": contact_id} for contact_id in contact_ids]})


def _set(field: str) -> Any:
    def apply(body: dict[str, Any], value: Any, resolved: Any) -> None:
        body.setdefault(field, resolved)
    return apply


def _no_body(body: dict[str, Any], value: Any, resolved: Any) -> None:
    """The group is joined by its own call after the create (``join_group``)."""


def _terms(body: dict[str, Any], value: Any, resolved: Any) -> None:
    body.setdefault("PaymentTerms", {}).setdefault("Sales", {"Day": value["day"], "Type": value["type"]})


DEFAULTS = {
    "default_currency": DefaultKey("default_currency", "the contact's DefaultCurrency",
                                   _currency_form, _set("DefaultCurrency"), currency_exists, "currency"),
    "sales_account_code": DefaultKey("sales_account_code", "SalesDefaultAccountCode", _text(10),
                                     _set("SalesDefaultAccountCode"), account_exists, "account code"),
    "contact_group": DefaultKey("contact_group", "a contact group (by name) the contact joins",
                                _text(255), _no_body, group_exists, "contact group"),
    "payment_terms": DefaultKey("payment_terms", "PaymentTerms.Sales (day and type)",
                                _terms_form, _terms),
}


def _put(field: str) -> Any:
    def put(body: dict[str, Any], text: str) -> None:
        body[field] = text
    return put


CUSTOM_FIELD_TARGETS = {
    "ContactNumber": CustomTarget("ContactNumber", Limit("Contact.ContactNumber", 50), _put("ContactNumber")),
    "CompanyNumber": CustomTarget("CompanyNumber", Limit("Contact.CompanyNumber", 50), _put("CompanyNumber")),
    "FirstName": CustomTarget("FirstName", Limit("Contact.FirstName", 255), _put("FirstName")),
    "LastName": CustomTarget("LastName", Limit("Contact.LastName", 255), _put("LastName")),
    "BankAccountDetails": CustomTarget("BankAccountDetails", Limit("Contact.BankAccountDetails"),
                                       _put("BankAccountDetails")),
}

#: Defaults that act after the creates, with the resolved value and the new contacts' ids.
AFTER_CREATE = {"contact_group": join_group}
