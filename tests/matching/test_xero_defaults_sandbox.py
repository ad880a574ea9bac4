"""Xero defaults against the stand-in (``GET /Currencies``, ``/Accounts``, ``/ContactGroups``):
checked on save, resolved, then carried by a create body the stand-in takes, and the group
joined after the create."""
from __future__ import annotations

from typing import Any

import requests

from core.models import ContactFields, Organisation
from core.store import integrations
from providers import contact_extras, factory
from providers.xero import mapping as xero_mapping
from tests.support import integration_body


def _group(sandbox: Any, body: dict[str, Any], name: str) -> str:
    provider = body["provider"]
    answer = requests.put(f"{provider['api_url']}/ContactGroups", timeout=5, json={"ContactGroups": [{"Name": name}]},
                          headers={"Authorization": f"Bearer {provider['access_token']}",
                                   "xero-tenant-id": provider["tenant_id"]})
    answer.raise_for_status()
    return str(answer.json()["ContactGroups"][0]["ContactGroupID"])


def test_known_values_are_resolved_and_a_create_carries_them(rt, client, admin, sandbox):
    body = integration_body(sandbox, "xero", defaults={
        "default_currency": "aud", "sales_account_code": "200", "contact_group": "vip customers"})
    group_id = _group(sandbox, body, "VIP Customers")
    created = client.post("/api/integrations", headers=admin, json=body)
    assert created.status_code == 201, created.get_json()
    integration = integrations.get(rt.db, created.get_json()["id"])
    assert integration.settings["defaults_resolved"] == {
        "default_currency": "AUD", "sales_account_code": "200",
        "contact_group": {"id": group_id, "name": "VIP Customers"}}

    # When a contact is created with the extras the write path adds
    organisation = Organisation(id=9, name="Extras Ltd", membership_type="Organisation", active=True,
                                fields=ContactFields(name="Extras Ltd", account_number="EX-9"))
    extras = contact_extras.for_create("xero", integration.settings, organisation)
    payload = extras.apply("xero", xero_mapping.contact_payload(organisation.fields))
    provider = factory.accounting_provider(rt, integration)
    answer = provider.api.request("PUT", "Contacts", params={"summarizeErrors": "false"},
                                  json={"Contacts": [payload]}).json()["Contacts"][0]
    contact = provider.get_contact(answer["ContactID"])
    contact_extras.follow_creates(provider, [(extras, contact)])

    # Then the stand-in took the defaults and the contact is in the group
    stored = next(c for c in sandbox.get("xero", "contacts", tenant=body["provider"]["tenant_id"])["Contacts"]
                  if c["ContactID"] == contact.id)
    assert (stored["DefaultCurrency"], stored["SalesDefaultAccountCode"]) == ("AUD", "200")
    group = provider.api.request("GET", f"ContactGroups/{group_id}").json()["ContactGroups"][0]
    assert [c["ContactID"] for c in group["Contacts"]] == [contact.id]


def test_unknown_values_are_400_naming_each(rt, client, admin, sandbox):
    before = len(integrations.all_active(rt.db))
    answer = client.post("/api/integrations", headers=admin, json=integration_body(sandbox, "xero", defaults={
        "default_currency": "JPY", "sales_account_code": "210", "contact_group": "Nobody"}))
    assert answer.status_code == 400
    named = answer.get_json()["fields"]["defaults"]
    assert "'JPY'" in named["default_currency"][0]
    assert "'210'" in named["sales_account_code"][0]  # an archived account is not offered
    assert "'Nobody'" in named["contact_group"][0]
    assert len(integrations.all_active(rt.db)) == before
