"""A bulk export carries the integration's defaults and custom fields exactly as a live create
does (interface §11: "fields set on contacts the service creates"): over HTTP, a real worker on
the bulk queue, the sandbox for each system. Each test fails if the export sends the mapped
fields alone (as it did before: its batch calls dropped the extras)."""
from __future__ import annotations

from typing import Any, Callable

import pytest
import requests

from core.store import links
from tests.ledger.support import qb_customer, sage_contact, xero_contact
from tests.matching.matching_support import KINDS, writes
from tests.support import create_integration, integration_body, running_worker, seed_organisation, wait_for


@pytest.fixture
def worker(rt: Any) -> Any:
    yield from running_worker(rt)


def _xero(sandbox: Any, integration: dict[str, Any], cid: str) -> tuple[Any, ...]:
    contact = xero_contact(sandbox, integration, cid)
    return contact.get("DefaultCurrency"), contact.get("SalesDefaultAccountCode"), contact.get("CompanyNumber")


def _quickbooks(sandbox: Any, integration: dict[str, Any], cid: str) -> tuple[Any, ...]:
    customer = qb_customer(sandbox, integration, cid)
    return ((customer.get("CurrencyRef") or {}).get("value"),
            (customer.get("SalesTermRef") or {}).get("value"), customer.get("Notes"))


def _sage(sandbox: Any, integration: dict[str, Any], cid: str) -> tuple[Any, ...]:
    contact = sage_contact(sandbox, integration, cid) or {}
    return (contact.get("currency") or {}).get("id"), contact.get("credit_days"), contact.get("registered_number")


#: kind: (two defaults, the custom-field target, how to read (default, default, custom), what a
#: created contact then holds, how many organisations).
CASES: dict[str, tuple[dict[str, Any], str, Callable[..., tuple[Any, ...]], tuple[Any, ...], int]] = {
    # 100 organisations: two batch calls of 50, the export's cost (≤ 0.025 writes a contact).
    "xero": ({"default_currency": "AUD", "sales_account_code": "200"}, "CompanyNumber", _xero,
             ("AUD", "200"), 100),
    "quickbooks": ({"currency": "GBP", "sales_term": "Net 30"}, "Notes", _quickbooks, ("GBP", "3"), 12),
    "sage": ({"currency": "EUR", "credit_days": 30}, "registered_number", _sage, ("EUR", 30), 6),
}


def _job(client: Any, admin: dict[str, str], job_id: str) -> dict[str, Any]:
    return client.get(f"/api/jobs/{job_id}", headers=admin).get_json()


@pytest.mark.parametrize("kind", KINDS)
def test_an_export_creates_contacts_with_the_defaults_and_custom_fields(
        rt: Any, client: Any, admin: Any, sandbox: Any, worker: Any, kind: str) -> None:
    defaults, target, read, held, count = CASES[kind]
    # Given an integration with two defaults and a mapped custom field, and its organisations
    integration = create_integration(client, admin, sandbox, kind, defaults=defaults,
                                      mapping={"custom_fields": {"company_no": target}})
    members = {
        seed_organisation(sandbox, integration["subdomain"], name=f"Export Extras {n:03d}",
                          membership={"number": f"EX-{n:04d}", "tax_number": ""},
                          custom_fields={"linked_contact": "", "company_no": f"CN{n:06d}"})["id"]: n
        for n in range(count)}
    # When an export is started over the API and a worker runs it
    started = client.post(f"/api/integrations/{integration['id']}/export", headers=admin)
    assert started.status_code == 202, started.get_json()
    job_id = started.get_json()["job_id"]
    job = wait_for(lambda: (j := _job(client, admin, job_id))["status"] in ("succeeded", "failed") and j,
                   timeout=60)
    assert (job["status"], job["done"], job["failed"]) == ("succeeded", count, 0), job["errors"][-3:]
    # Then every contact it made carries both defaults and its own custom-field value
    made = {link.organisation_id: link.contact_id for link in links.all_of(rt.db, integration["id"])}
    assert set(made) == set(members)
    for organisation_id, n in members.items():
        assert read(sandbox, integration, made[organisation_id]) == (*held, f"CN{n:06d}")
    if kind == "xero":
        # And the batches still carry 50 contacts a call: the extras cost no extra write
        puts = [c for c in writes(sandbox, "xero") if c["path"].endswith("/Contacts")]
        assert len(puts) / count <= 0.025, puts


def test_a_xero_export_joins_its_new_contacts_to_the_default_group_one_call_a_batch(
        rt: Any, client: Any, admin: Any, sandbox: Any, worker: Any) -> None:
    # Given a default contact group and 100 organisations
    body = integration_body(sandbox, "xero", defaults={"contact_group": "Hire Customers"})
    provider = body["provider"]
    headers = {"Authorization": f"Bearer {provider['access_token']}", "xero-tenant-id": provider["tenant_id"]}
    made = requests.put(f"{provider['api_url']}/ContactGroups", json={"ContactGroups": [{"Name": "Hire Customers"}]},
                        headers=headers, timeout=5)
    assert made.status_code == 200, made.text
    group_id = made.json()["ContactGroups"][0]["ContactGroupID"]
    answer = client.post("/api/integrations", json=body, headers=admin)
    assert answer.status_code == 201, answer.get_json()
    integration_id = answer.get_json()["id"]
    sandbox.control("current_rms", "members/bulk", subdomain=body["source"]["subdomain"], count=100)
    before = len(writes(sandbox, "xero"))
    # When it is exported
    started = client.post(f"/api/integrations/{integration_id}/export", headers=admin)
    job_id = started.get_json()["job_id"]
    job = wait_for(lambda: (j := _job(client, admin, job_id))["status"] in ("succeeded", "failed") and j,
                   timeout=60)
    assert (job["status"], job["done"], job["failed"]) == ("succeeded", 100, 0), job["errors"][-3:]
    # Then every new contact is in the group
    group = requests.get(f"{provider['api_url']}/ContactGroups/{group_id}", headers=headers, timeout=5)
    members = {c["ContactID"] for c in group.json()["ContactGroups"][0].get("Contacts") or []}
    assert members == {link.contact_id for link in links.all_of(rt.db, integration_id)}
    assert len(members) == 100
    # And each batch of 50 took one create call and one join: 0.04 writes a contact, not 1.02
    calls = writes(sandbox, "xero")[before:]
    assert [c["path"].rsplit("/", 1)[-1] for c in calls].count("Contacts") == len(calls) == 4, calls
