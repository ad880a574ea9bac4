"""Sage Accounting's defaults for new contacts and custom-field targets (v3.1 Swagger
``postContacts``; providers.md §C).

| key | contact field | checked against |
|---|---|---|
| ``currency`` | ``currency_id`` | ``GET /currencies`` |
| ``credit_days`` | ``credit_days`` | form: an integer from 0 to 365 (Swagger min/max) |
| ``credit_limit`` | ``credit_limit`` | form: a number of at least 0 |
"""
from __future__ import annotations

from typing import Any

from providers.base import AccountingProvider
from providers.defaults import CustomTarget, DefaultKey
from providers.field_limits import Limit

#: ``credit_days`` bounds (Swagger ``postContacts``: minimum 0, maximum 365).
CREDIT_DAYS = (0, 365)


def _currency_form(value: Any) -> str | None:
    if not isinstance(value, str) or len(value.strip()) != 3 or not value.strip().isalpha():
        return "a three-letter currency code (ISO 4217)"
    return None


def _days_form(value: Any) -> str | None:
    low, high = CREDIT_DAYS
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        return f"an integer from {low} to {high}"
    return None


def _limit_form(value: Any) -> str | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        return "a number of at least 0"
    return None


def currency_exists(provider: AccountingProvider, value: str) -> str | None:
    code = value.strip().upper()
    page = 1
    while page <= 10:  # a few hundred currencies at most
        body = provider._call("GET", "/currencies", params={  # type: ignore[attr-defined]
            "items_per_page": 200, "page": page}).json()
        items = body.get("$items") if isinstance(body, dict) else body
        for item in items or []:
            if str(item.get("id", "")).upper() == code:
                return str(item["id"])
        if not isinstance(body, dict) or not body.get("$next"):
            return None
        page += 1
    return None


def _set(field: str) -> Any:
    def apply(body: dict[str, Any], value: Any, resolved: Any) -> None:
        body.setdefault("contact", {}).setdefault(field, resolved)
    return apply


DEFAULTS = {
    "currency": DefaultKey("currency", "currency_id", _currency_form, _set("currency_id"),
                           currency_exists, "currency"),
    "credit_days": DefaultKey("credit_days", "credit_days", _days_form, _set("credit_days")),
    "credit_limit": DefaultKey("credit_limit", "credit_limit", _limit_form, _set("credit_limit")),
}


def _put(field: str) -> Any:
    def put(body: dict[str, Any], text: str) -> None:
        body.setdefault("contact", {})[field] = text
    return put


CUSTOM_FIELD_TARGETS = {
    "notes": CustomTarget("notes", Limit("contact.notes", 4000), _put("notes")),
    "registered_number": CustomTarget("registered_number", Limit("contact.registered_number", 25),
                                      _put("registered_number")),
    "aux_reference": CustomTarget("aux_reference", Limit("contact.aux_reference", 4),
                                  _put("aux_reference")),
    "credit_terms_and_conditions": CustomTarget(
        "credit_terms_and_conditions", Limit("contact.credit_terms_and_conditions", 2000),
        _put("credit_terms_and_conditions")),
}
