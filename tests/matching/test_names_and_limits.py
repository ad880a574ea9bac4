"""``on_name_clash: suffix`` names and the field limits (pure)."""
from __future__ import annotations

import dataclasses

import pytest

from core.models import ContactFields
from core.name_clash import on_name_clash_of, suffixed_name
from providers.field_limits import name_length, refusal


def test_suffix_uses_the_account_number_else_the_organisation_id() -> None:
    assert suffixed_name("Acme", account_number=" AC 1 ", organisation_id=7, max_length=255) == "Acme (AC 1)"
    assert suffixed_name("Acme", account_number="", organisation_id=7, max_length=255) == "Acme (#7)"


@pytest.mark.parametrize("kind, limit", [("xero", 255), ("quickbooks", 500), ("sage", 100)])
def test_suffix_fits_each_systems_name_length_keeping_the_suffix(kind: str, limit: int) -> None:
    assert name_length(kind) == limit
    long_name = "N" * (limit + 50)
    named = suffixed_name(long_name, account_number="AC-1", organisation_id=7, max_length=limit)
    assert len(named) == limit and named.endswith(" (AC-1)")


def test_an_account_number_too_long_for_the_name_falls_back_to_the_id() -> None:
    named = suffixed_name("Acme", account_number="X" * 60, organisation_id=123, max_length=100)
    assert named == "Acme (#123)"


def test_the_policy_defaults_to_fail() -> None:
    assert on_name_clash_of({}) == "fail"
    assert on_name_clash_of({"on_name_clash": "suffix"}) == "suffix"
    assert on_name_clash_of({"on_name_clash": "other"}) == "fail"


OK = ContactFields(name="Acme", email="a@acme.test", account_number="AC-1", postcode="BA1 1AA")


@pytest.mark.parametrize("kind", ["xero", "quickbooks", "sage"])
def test_values_within_the_limits_pass(kind: str) -> None:
    assert refusal(kind, OK) is None


def test_sage_reference_over_ten_characters_is_refused_naming_field_and_limit() -> None:
    reason = refusal("sage", dataclasses.replace(OK, account_number="ACCOUNT-0001"))
    assert reason is not None
    assert "account_number is 12 characters" in reason and "contact.reference" in reason
    assert "at most 10" in reason
    # Xero's AccountNumber takes 50: the same value is fine there
    assert refusal("xero", dataclasses.replace(OK, account_number="ACCOUNT-0001")) is None


@pytest.mark.parametrize("kind, fields, field", [
    ("xero", dataclasses.replace(OK, name="N" * 256), "Contact.Name"),
    ("sage", dataclasses.replace(OK, postcode="X" * 11), "address.postal_code"),
    ("quickbooks", dataclasses.replace(OK, name="A: B"), "Customer.DisplayName"),
    ("quickbooks", dataclasses.replace(OK, email="not-an-address"), "Customer.PrimaryEmailAddr.Address"),
    ("quickbooks", dataclasses.replace(OK, phone="1" * 31), "Customer.PrimaryPhone.FreeFormNumber"),
])
def test_each_refusal_names_the_target(kind: str, fields: ContactFields, field: str) -> None:
    reason = refusal(kind, fields)
    assert reason is not None and field in reason
