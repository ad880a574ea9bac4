"""QuickBooks Online's defaults for new customers and custom-field targets (providers.md §B).

| key | Customer field | checked against |
|---|---|---|
| ``currency`` | ``CurrencyRef.value`` (ISO code) | ``select * from Preferences``: the home currency (``CurrencyPrefs.HomeCurrency``) always; another only when ``CurrencyPrefs.MultiCurrencyEnabled`` and active in ``select * from CompanyCurrency`` |
| ``sales_term`` | ``SalesTermRef.value`` (the term's Id) | ``select * from Term where Name = '…'`` (active terms) |
| ``preferred_delivery_method`` | ``PreferredDeliveryMethod`` | form only: ``Print``, ``Email`` or ``None`` |
"""
from __future__ import annotations

from typing import Any

from core.models import same_name
from providers.base import AccountingProvider
from providers.defaults import CustomTarget, DefaultKey, NotOffered
from providers.field_limits import Limit
from providers.quickbooks import mapping

DELIVERY_METHODS = ("Print", "Email", "None")


def _query(provider: AccountingProvider, text: str, entity: str) -> list[dict[str, Any]]:
    response = provider.api.request("GET", "query", params={  # type: ignore[attr-defined]
        "minorversion": "75", "query": text})
    return list((response.json().get("QueryResponse") or {}).get(entity) or [])


def _currency_form(value: Any) -> str | None:
    if not isinstance(value, str) or len(value.strip()) != 3 or not value.strip().isalpha():
        return "a three-letter currency code (ISO 4217)"
    return None


def _term_form(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        return "a term name of 1 to 100 characters"
    return None


def _delivery_form(value: Any) -> str | None:
    return None if value in DELIVERY_METHODS else f"one of {', '.join(DELIVERY_METHODS)}"


def currency_exists(provider: AccountingProvider, value: str) -> str | None:
    """The company's home currency always; a foreign one only where multicurrency is on and the
    currency is active in the company's list (CompanyCurrency applies only to multicurrency
    companies; a customer's currency cannot differ from the home one without it)."""
    code = value.strip().upper()
    preferences = _query(provider, "select * from Preferences", "Preferences")
    prefs = (preferences[0].get("CurrencyPrefs") or {}) if preferences else {}
    home = str((prefs.get("HomeCurrency") or {}).get("value") or "").upper()
    if code == home:
        return code
    if not prefs.get("MultiCurrencyEnabled"):
        raise NotOffered(f"QuickBooks Online takes only the company's home currency {home or '(unknown)'} "
                         f"here, not {value!r}: multicurrency is off in this company")
    enabled = {str(c.get("Code", "")).upper() for c in _query(
        provider, "select * from CompanyCurrency", "CompanyCurrency") if c.get("Active", True)}
    return code if code in enabled else None


def term_exists(provider: AccountingProvider, value: str) -> dict[str, str] | None:
    terms = _query(provider, f"select * from Term where Name = {mapping.quote(value.strip())}", "Term")
    found = next((t for t in terms if same_name(str(t.get("Name") or ""), value)
                  and t.get("Active", True)), None)
    return {"value": str(found["Id"]), "name": str(found["Name"])} if found else None


def _currency(body: dict[str, Any], value: Any, resolved: Any) -> None:
    body.setdefault("CurrencyRef", {"value": str(resolved)})


def _term(body: dict[str, Any], value: Any, resolved: Any) -> None:
    if isinstance(resolved, dict):
        body.setdefault("SalesTermRef", {"value": resolved["value"]})


def _delivery(body: dict[str, Any], value: Any, resolved: Any) -> None:
    body.setdefault("PreferredDeliveryMethod", value)


DEFAULTS = {
    "currency": DefaultKey("currency", "CurrencyRef", _currency_form, _currency, currency_exists,
                           "currency"),
    "sales_term": DefaultKey("sales_term", "SalesTermRef (a term, by name)", _term_form, _term,
                             term_exists, "term"),
    "preferred_delivery_method": DefaultKey("preferred_delivery_method", "PreferredDeliveryMethod",
                                            _delivery_form, _delivery),
}


def _put(field: str, inner: str | None = None) -> Any:
    def put(body: dict[str, Any], text: str) -> None:
        body[field] = {inner: text} if inner else text
    return put


CUSTOM_FIELD_TARGETS = {
    "Notes": CustomTarget("Notes", Limit("Customer.Notes", 2000), _put("Notes")),
    "GivenName": CustomTarget("GivenName", Limit("Customer.GivenName", 100, r"[^:\t\r\n]*",
                                                 "no ':', tab or new line"), _put("GivenName")),
    "FamilyName": CustomTarget("FamilyName", Limit("Customer.FamilyName", 100, r"[^:\t\r\n]*",
                                                   "no ':', tab or new line"), _put("FamilyName")),
    "Title": CustomTarget("Title", Limit("Customer.Title", 16), _put("Title")),
    "ResaleNum": CustomTarget("ResaleNum", Limit("Customer.ResaleNum", 16), _put("ResaleNum")),
    "WebAddr": CustomTarget("WebAddr", Limit("Customer.WebAddr.URI", 1000, r"(https?://\S+)?",
                                             "an http(s) address"), _put("WebAddr", "URI")),
}
