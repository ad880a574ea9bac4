"""``defaults`` and ``mapping.custom_fields`` over HTTP (interface §11): unknown keys, targets
and values are a 400 naming them, and nothing is stored; PATCH merges key by key."""
from __future__ import annotations

from typing import Any

import pytest

from core.store import integrations
from tests.support import create_integration, integration_body


def stored(rt: Any) -> int:
    return len(integrations.all_active(rt.db))


@pytest.mark.parametrize("kind, body, field", [
    ("xero", {"defaults": {"currency": "NZD"}}, ["defaults", "currency"]),
    ("quickbooks", {"defaults": {"default_currency": "USD"}}, ["defaults", "default_currency"]),
    ("sage", {"defaults": {"credit_days": 400}}, ["defaults", "credit_days"]),
    ("sage", {"defaults": {"currency": "EURO"}}, ["defaults", "currency"]),
    ("xero", {"mapping": {"custom_fields": {"vat": "TaxNumberType"}}}, ["mapping", "custom_fields", "vat"]),
    ("quickbooks", {"mapping": {"custom_fields": {"x": "AcctNum"}}}, ["mapping", "custom_fields", "x"]),
    ("xero", {"mapping": {"other": {}}}, ["mapping", "other"]),
    ("xero", {"policies": {"on_name_clash": "rename"}}, ["policies", "on_name_clash"]),
    ("sage", {"policies": {"match_on": ["vat"]}}, ["policies", "match_on"]),
])
def test_unknown_keys_targets_and_values_are_400_naming_them(rt, client, admin, sandbox, kind, body, field):
    before = stored(rt)
    answer = client.post("/api/integrations", headers=admin, json={**integration_body(sandbox, kind), **body})
    assert answer.status_code == 400, answer.get_json()
    named: Any = answer.get_json()["fields"]
    for key in field:
        assert key in named, (key, named)
        named = named[key]
    assert stored(rt) == before


def test_form_only_defaults_and_mapping_are_stored_shown_and_merged(rt, client, admin, sandbox):
    created = create_integration(client, admin, sandbox, "sage", defaults={"credit_days": 30},
                                 mapping={"custom_fields": {"vat_de": "registered_number"}},
                                 policies={"match_on": ["email", "name"], "on_name_clash": "suffix"})
    iid = created["id"]
    shown = client.get(f"/api/integrations/{iid}", headers=admin).get_json()
    assert shown["defaults"] == {"credit_days": 30}
    assert shown["mapping"] == {"custom_fields": {"vat_de": "registered_number"}}
    assert shown["policies"]["match_on"] == ["email", "name"] and shown["policies"]["on_name_clash"] == "suffix"
    # PATCH merges key by key; null removes one
    patched = client.patch(f"/api/integrations/{iid}", headers=admin, json={
        "defaults": {"credit_limit": 500, "credit_days": None},
        "mapping": {"custom_fields": {"memo": "notes"}}})
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["defaults"] == {"credit_limit": 500}
    assert patched.get_json()["mapping"]["custom_fields"] == {"vat_de": "registered_number", "memo": "notes"}
    # a refused PATCH changes nothing
    refused = client.patch(f"/api/integrations/{iid}", headers=admin, json={"defaults": {"credit_days": -1}})
    assert refused.status_code == 400 and "credit_days" in refused.get_json()["fields"]["defaults"]
    assert client.get(f"/api/integrations/{iid}", headers=admin).get_json()["defaults"] == {"credit_limit": 500}


def test_a_default_that_needs_a_look_up_without_a_usable_token_says_to_connect_first(rt, client, admin, sandbox):
    body = integration_body(sandbox, "xero", defaults={"default_currency": "NZD"})
    del body["provider"]["access_token"]
    before = stored(rt)
    answer = client.post("/api/integrations", headers=admin, json=body)
    assert answer.status_code == 400
    assert "connect" in " ".join(answer.get_json()["fields"]["defaults"])
    assert stored(rt) == before


@pytest.mark.parametrize("kind, defaults, resolved", [
    ("quickbooks", {"sales_term": "net 30", "currency": "gbp"},
     {"sales_term": {"value": "3", "name": "Net 30"}, "currency": "GBP"}),
    ("sage", {"currency": "eur", "credit_days": 30}, {"currency": "EUR", "credit_days": 30}),
])
def test_values_the_accounting_system_has_are_accepted_and_resolved(rt, client, admin, sandbox, kind, defaults, resolved):
    created = create_integration(client, admin, sandbox, kind, defaults=defaults)
    stored_settings = integrations.get(rt.db, created["id"]).settings
    assert stored_settings["defaults"] == defaults
    assert stored_settings["defaults_resolved"] == resolved


@pytest.mark.parametrize("kind, defaults, key, value", [
    ("quickbooks", {"sales_term": "Net 45"}, "sales_term", "Net 45"),
    ("quickbooks", {"currency": "JPY"}, "currency", "JPY"),
    ("sage", {"currency": "JPY"}, "currency", "JPY"),
])
def test_values_the_accounting_system_lacks_are_400_naming_key_and_value(rt, client, admin, sandbox, kind, defaults, key, value):
    before = stored(rt)
    answer = client.post("/api/integrations", headers=admin,
                         json=integration_body(sandbox, kind, defaults=defaults))
    assert answer.status_code == 400, answer.get_json()
    [message] = answer.get_json()["fields"]["defaults"][key]
    assert repr(value) in message
    assert stored(rt) == before


def test_a_patch_is_checked_against_the_accounting_system_too(rt, client, admin, sandbox):
    created = create_integration(client, admin, sandbox, "quickbooks")
    refused = client.patch(f"/api/integrations/{created['id']}", headers=admin,
                           json={"defaults": {"sales_term": "Net 99"}})
    accepted = client.patch(f"/api/integrations/{created['id']}", headers=admin,
                            json={"defaults": {"sales_term": "Net 15"}})
    assert refused.status_code == 400 and "'Net 99'" in refused.get_json()["fields"]["defaults"]["sales_term"][0]
    assert accepted.status_code == 200 and accepted.get_json()["defaults"] == {"sales_term": "Net 15"}
    settings = integrations.get(rt.db, created["id"]).settings
    assert settings["defaults_resolved"] == {"sales_term": {"value": "2", "name": "Net 15"}}


def test_quickbooks_and_sage_take_a_create_body_with_the_extras(rt, client, admin, sandbox):
    from core.models import ContactFields, Organisation
    from providers import contact_extras, factory
    from providers.quickbooks import mapping as qbo_mapping
    from providers.sage import mapping as sage_mapping

    organisation = Organisation(id=9, name="Extras Ltd", membership_type="Organisation", active=True,
                                fields=ContactFields(name="Extras Ltd", account_number="EX9"),
                                custom_fields={"memo": "From Current RMS"})
    qbo = create_integration(client, admin, sandbox, "quickbooks", defaults={"sales_term": "Net 30", "currency": "EUR"},
                             mapping={"custom_fields": {"memo": "Notes"}})
    sage = create_integration(client, admin, sandbox, "sage", defaults={"currency": "EUR", "credit_days": 45},
                              mapping={"custom_fields": {"memo": "notes"}})
    qbo_row, sage_row = integrations.get(rt.db, qbo["id"]), integrations.get(rt.db, sage["id"])

    qbo_body = contact_extras.for_create("quickbooks", qbo_row.settings, organisation).apply(
        "quickbooks", qbo_mapping.create_payload(organisation.fields))
    customer = factory.accounting_provider(rt, qbo_row).post("customer", qbo_body, scope="extras")["Customer"]
    assert customer["SalesTermRef"]["value"] == "3" and customer["CurrencyRef"]["value"] == "EUR"
    assert customer["Notes"] == "From Current RMS"

    sage_body = contact_extras.for_create("sage", sage_row.settings, organisation).apply(
        "sage", sage_mapping.contact_body(organisation.fields, create=True))
    sage_provider = factory.accounting_provider(rt, sage_row)
    created = sage_provider._call("POST", "/contacts", json=sage_body).json()
    stored = sandbox.get("sage", "contacts", tenant=sage["tenant"])["contacts"]
    [contact] = [c for c in stored if c["id"] == created["id"]]
    assert contact["currency"]["id"] == "EUR" and contact["credit_days"] == 45
    assert contact["notes"] == "From Current RMS"
