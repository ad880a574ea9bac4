"""``providers.contact_extras``: what the sync's write path adds, checked in one place."""
from __future__ import annotations

from core.models import ContactFields, Organisation
from providers import contact_extras
from providers.xero import mapping as xero_mapping

SETTINGS = {
    "defaults": {"default_currency": "NZD", "contact_group": "VIP"},
    "defaults_resolved": {"default_currency": "NZD", "contact_group": {"id": "g-1", "name": "VIP"}},
    "mapping": {"custom_fields": {"company_no": "CompanyNumber"}},
}


def organisation(**fields: str) -> Organisation:
    return Organisation(id=42, name=fields.get("name", "Acme"), membership_type="Organisation", active=True,
                        fields=ContactFields(**{"name": "Acme", **fields}),
                        custom_fields={"company_no": "12345678"})


def test_a_create_gets_defaults_custom_fields_and_the_group_join_after_it() -> None:
    extras = contact_extras.for_create("xero", SETTINGS, organisation())
    body = extras.apply("xero", xero_mapping.contact_payload(organisation().fields))
    assert extras.refusal is None
    assert (body["DefaultCurrency"], body["CompanyNumber"]) == ("NZD", "12345678")
    assert len(extras.after_create) == 1


def test_an_update_gets_custom_fields_but_never_defaults() -> None:
    extras = contact_extras.for_update("xero", SETTINGS, organisation())
    body = extras.apply("xero", xero_mapping.contact_payload(organisation().fields))
    assert "DefaultCurrency" not in body and body["CompanyNumber"] == "12345678"
    assert extras.after_create == ()


def test_a_value_over_the_limit_is_a_refusal_not_a_truncation() -> None:
    extras = contact_extras.for_create("sage", {}, organisation(account_number="ACCOUNT-0001"))
    assert extras.refusal is not None and "contact.reference" in extras.refusal
    custom = contact_extras.for_update("sage", {"mapping": {"custom_fields": {"company_no": "aux_reference"}}},
                                       organisation())
    assert custom.refusal is not None and "contact.aux_reference" in custom.refusal


def test_suffix_on_clash_only_when_the_policy_asks() -> None:
    fields = ContactFields(name="Acme", account_number="AC-1")
    assert contact_extras.renamed_for_clash("quickbooks", {}, fields, 42) is None
    renamed = contact_extras.renamed_for_clash("quickbooks", {"on_name_clash": "suffix"}, fields, 42)
    assert renamed is not None and renamed.name == "Acme (AC-1)"
    no_number = contact_extras.renamed_for_clash("sage", {"on_name_clash": "suffix"}, ContactFields(name="Acme"), 42)
    assert no_number is not None and no_number.name == "Acme (#42)"
