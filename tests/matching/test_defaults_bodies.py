"""Defaults and custom fields in the bodies sent, validated against the official specs
(``tests/specs``), and never in an update body."""
from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest
import yaml

from core.models import ContactFields
from providers import defaults
from providers.quickbooks import mapping as qbo_mapping
from providers.sage import mapping as sage_mapping
from providers.xero import mapping as xero_mapping
from tests.support import SPECS

FIELDS = ContactFields(name="Spec Co", email="spec@spec.test", account_number="SPEC1",
                       country_code="GB", postcode="BA1 1AA")


def _strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if schema.get("type") == "object" and "properties" in schema:
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [_strict(item) for item in schema]
    return schema


@pytest.fixture(scope="module")
def xero_validator() -> jsonschema.Validator:
    with open(SPECS / "xero_accounting.yaml", encoding="utf-8") as handle:
        spec = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    components = copy.deepcopy(spec["components"])
    for name in ("Contact", "Address", "Phone", "PaymentTerm", "Bill"):
        components["schemas"][name]["additionalProperties"] = False
    return jsonschema.Draft4Validator({"components": components, "$ref": "#/components/schemas/Contacts"})


@pytest.fixture(scope="module")
def sage_validator() -> jsonschema.Validator:
    definitions = json.loads((SPECS / "sage_accounting_v3.1_swagger.json").read_text())["definitions"]
    return jsonschema.Draft4Validator(_strict(copy.deepcopy(definitions["postContacts"])))


def test_xero_create_body_with_defaults_and_custom_fields_is_valid(xero_validator) -> None:
    chosen = {"default_currency": "NZD", "sales_account_code": "200", "contact_group": "VIP",
              "payment_terms": {"day": 20, "type": "OFFOLLOWINGMONTH"}}
    resolved = {"default_currency": "NZD", "sales_account_code": "200",
                "contact_group": {"id": "97bbd0e6-ab4d-4117-9304-d90dd4779199", "name": "VIP"}}
    body = defaults.apply_to_create("xero", xero_mapping.contact_payload(FIELDS), chosen, resolved)
    values, reason = defaults.custom_field_values("xero", {"reg": "12345678", "code": "C-1"},
                                                  {"reg": "CompanyNumber", "code": "ContactNumber"})
    defaults.apply_custom_fields("xero", body, values)
    assert reason is None
    assert (body["DefaultCurrency"], body["SalesDefaultAccountCode"]) == ("NZD", "200")
    assert body["PaymentTerms"] == {"Sales": {"Day": 20, "Type": "OFFOLLOWINGMONTH"}}
    assert (body["CompanyNumber"], body["ContactNumber"]) == ("12345678", "C-1")
    assert "ContactGroups" not in body  # joined by its own call after the create
    errors = [e.message for e in xero_validator.iter_errors({"Contacts": [body]})]
    assert errors == []


def test_sage_create_body_with_defaults_and_custom_fields_is_valid(sage_validator) -> None:
    chosen = {"currency": "EUR", "credit_days": 30, "credit_limit": 2500}
    body = defaults.apply_to_create("sage", sage_mapping.contact_body(FIELDS, create=True), chosen,
                                    {"currency": "EUR"})
    values, reason = defaults.custom_field_values("sage", {"vat": "DE123", "memo": "From CRMS"},
                                                  {"vat": "registered_number", "memo": "notes"})
    defaults.apply_custom_fields("sage", body, values)
    contact = body["contact"]
    assert reason is None
    assert (contact["currency_id"], contact["credit_days"], contact["credit_limit"]) == ("EUR", 30, 2500)
    assert (contact["registered_number"], contact["notes"]) == ("DE123", "From CRMS")
    assert [e.message for e in sage_validator.iter_errors(body)] == []


def test_quickbooks_create_body_carries_refs() -> None:
    body = defaults.apply_to_create(
        "quickbooks", qbo_mapping.create_payload(FIELDS),
        {"currency": "GBP", "sales_term": "Net 30", "preferred_delivery_method": "Email"},
        {"currency": "GBP", "sales_term": {"value": "3", "name": "Net 30"}})
    assert body["CurrencyRef"] == {"value": "GBP"} and body["SalesTermRef"] == {"value": "3"}
    assert body["PreferredDeliveryMethod"] == "Email"


def test_a_mapped_value_is_never_replaced_by_a_default() -> None:
    body = {"DefaultCurrency": "AUD"}
    defaults.apply_to_create("xero", body, {"default_currency": "NZD"}, {"default_currency": "NZD"})
    assert body == {"DefaultCurrency": "AUD"}


def test_a_custom_field_value_the_target_cannot_hold_is_a_reason_not_a_truncation() -> None:
    values, reason = defaults.custom_field_values("sage", {"deb": "12345"}, {"deb": "aux_reference"})
    assert values == {} and reason is not None
    assert "contact.aux_reference" in reason and "at most 4" in reason and "'deb'" in reason
    _, web = defaults.custom_field_values("quickbooks", {"site": "not a url"}, {"site": "WebAddr"})
    assert web is not None and "Customer.WebAddr.URI" in web


def test_offline_checks_name_each_unknown_key_target_and_bad_value() -> None:
    problems = defaults.form_errors(
        "sage", {"currency": "EURO", "credit_days": 400, "sales_term": "Net 30"},
        {"x": "notes", "y": "Website"})
    assert set(problems["defaults"]) == {"currency", "credit_days", "sales_term"}
    assert "unknown default" in problems["defaults"]["sales_term"][0]
    assert set(problems["mapping"]["custom_fields"]) == {"y"}
    assert defaults.form_errors("xero", {"default_currency": "NZD"}, {"a": "ContactNumber"}) == {}
