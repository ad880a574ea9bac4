"""The writable attributes of a Sage contact beyond name, address and person, and their limits.

From the v3.1 Swagger (``postContacts``, ``Contact``): every ``maxLength`` of ``Contact``,
``Address`` and ``ContactPerson`` is enforced, so that a value production would refuse is refused
here too (issue 17, gap 10; issue 15, field limits). The refusal is 422 ``RecordInvalid`` naming
the attribute in ``$source``; its wording ("… is too long (maximum is N characters)") is
unconfirmed. ``tests/clients`` checks these tables against the Swagger itself.
"""
from __future__ import annotations

from typing import Any

from sandbox.sage.errors import RECORD_INVALID, sage_error

#: ``Contact`` text attributes -> maxLength (None: the Swagger gives none).
CONTACT_TEXT: dict[str, int | None] = {
    "name": 100, "reference": 10, "tax_number": 255, "notes": 4000, "locale": 10,
    "credit_terms_and_conditions": 2000, "source_guid": 255, "aux_reference": 4,
    "registered_number": 25, "auxiliary_account": 25, "tax_calculation": None,
}
#: ``Address`` and ``ContactPerson`` text attributes -> maxLength.
ADDRESS_TEXT: dict[str, int | None] = {
    "address_line_1": 50, "address_line_2": 50, "city": 50, "postal_code": 10, "region": 50,
    "name": 50, "country_id": None,
}
PERSON_TEXT: dict[str, int | None] = {
    "name": 50, "job_title": 50, "telephone": 50, "mobile": 50, "email": 100, "fax": 50,
}
BANK_TEXT = ("account_name", "account_number", "sort_code", "bic", "iban")
TAX_TREATMENT = ("home_tax", "eu_tax_registered", "eu_not_tax_registered", "rest_of_world_tax",
                 "is_importer")
#: ``<name>_id`` written, ``<name>`` read back as a ``Base`` link to that record.
LINKS = {
    "currency_id": ("currency", "currencies"),
    "default_sales_ledger_account_id": ("default_sales_ledger_account", "ledger_accounts"),
    "default_sales_tax_rate_id": ("default_sales_tax_rate", "tax_rates"),
    "default_purchase_ledger_account_id": ("default_purchase_ledger_account", "ledger_accounts"),
    "product_sales_price_type_id": ("product_sales_price_type", "product_sales_price_types"),
}
CREDIT_TERMS = ("month_end_invoice", "date_from_invoice", "immediate_invoice",
                "month_end_payment", "date_from_payment", "immediate_payment")
#: ``credit_days``: "minimum": 0, "maximum": 365 (``postContacts``).
CREDIT_DAYS = (0, 365)
#: The currencies of the stand-in's businesses (``GET /currencies``), GBP being their own.
CURRENCIES = {"GBP": "Pound Sterling", "EUR": "Euro", "USD": "US Dollar",
              "CAD": "Canadian Dollar", "AUD": "Australian Dollar"}
BASE_CURRENCY = "GBP"


def too_long(source: str, value: Any, limit: int | None) -> list[dict[str, str]]:
    if limit is None or value is None or len(str(value)) <= limit:
        return []
    label = source.rsplit(".", 1)[-1].replace("_", " ").capitalize()
    return [sage_error(RECORD_INVALID, f"{label} is too long (maximum is {limit} characters)",
                       source)]


def length_errors(contact: dict[str, Any]) -> list[dict[str, str]]:
    errors = [e for k, n in CONTACT_TEXT.items() for e in too_long(k, contact.get(k), n)]
    for key, limits in (("main_address", ADDRESS_TEXT), ("delivery_address", ADDRESS_TEXT),
                        ("main_contact_person", PERSON_TEXT)):
        nested = contact.get(key)
        if isinstance(nested, dict):
            errors += [e for k, n in limits.items()
                       for e in too_long(f"{key}.{k}", nested.get(k), n)]
    return errors


def value_errors(contact: dict[str, Any]) -> list[dict[str, str]]:
    """Numbers, the credit terms enum and the currency (wording unconfirmed)."""
    errors = []
    if contact.get("credit_limit") is not None and not _is_number(contact["credit_limit"]):
        errors.append(sage_error(RECORD_INVALID, "Credit limit is not a number", "credit_limit"))
    days = contact.get("credit_days")
    if days is not None and (not isinstance(days, int) or isinstance(days, bool)
                             or not CREDIT_DAYS[0] <= days <= CREDIT_DAYS[1]):
        errors.append(sage_error(RECORD_INVALID,
                                 f"Credit days must be a whole number from {CREDIT_DAYS[0]} "
                                 f"to {CREDIT_DAYS[1]}", "credit_days"))
    terms = contact.get("credit_terms")
    if terms is not None and terms not in CREDIT_TERMS:
        errors.append(sage_error(RECORD_INVALID, "Credit terms is not included in the list",
                                 "credit_terms"))
    currency = contact.get("currency_id")
    if currency not in (None, "") and currency not in CURRENCIES:
        errors.append(sage_error(RECORD_INVALID, "Currency is invalid", "currency_id"))
    return errors


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def currency_base(code: str) -> dict[str, str]:
    return {"id": code, "displayed_as": f"{CURRENCIES.get(code, code)} ({code})",
            "$path": f"/currencies/{code}"}
