"""The Current RMS client against the stand-in over real HTTP."""
from __future__ import annotations

import inspect
import time

import pytest
import requests

from core.errors import RateLimited, Rejected, SourceCredentialsRefused, Transient
from core.models import ContactFields
from providers.current_rms import CurrentRMS
from sandbox.current_rms import create_app
from sandbox.runner import ServerThread


def _org(name: str, **more):
    return {"name": name, "membership_type": "Organisation", **more}


def test_get_organisation_found_sends_the_api_key_headers(client, seed, sample_member, calls):
    seed(sample_member)
    organisation = client.get_organisation(205100)
    assert organisation is not None
    assert organisation.name == "The Festival Of Testing"
    assert organisation.fields.account_number == "FOT-001"
    call = calls()[-1]
    assert (call["method"], call["path"]) == ("GET", "/api/v1/members/205100")
    assert call["headers"]["X-Subdomain"] == "acme"
    assert call["headers"]["X-Auth-Token"] == "acme-key-1"


def test_get_organisation_of_any_type_and_none_when_deleted(client, seed, control):
    contact = seed({"name": "Rosa Testa", "membership_type": "Contact"})
    assert client.get_organisation(contact["id"]).is_organisation is False
    assert client.get_organisation(987654) is None


def test_a_refused_api_key_is_source_credentials_refused(rms_url):
    client = CurrentRMS(api_url=f"{rms_url}/api/v1", subdomain="acme", api_key="wrong")
    with pytest.raises(SourceCredentialsRefused) as raised:
        client.get_organisation(1)
    assert raised.value.status == 401
    assert raised.value.reason == "reconnect the rental system"


def test_iteration_pages_lazily_across_pages(client, control, calls, seed):
    # Given 7 organisations and one contact
    control("POST", "members/bulk", json={"subdomain": "acme", "count": 7, "prefix": "Org"})
    seed({"name": "Not An Org", "membership_type": "Contact"})
    before = len(calls())
    # When they are iterated 3 per page
    iterator = client.iter_organisations(per_page=3)
    # Then it is a generator that asks for nothing until read, one page at a time
    assert inspect.isgenerator(iterator)
    assert len(calls()) == before
    first = next(iterator)
    assert first.name == "Org 00001" and len(calls()) == before + 1
    rest = list(iterator)
    # and it yields every organisation once, stopping at total_row_count (3 pages, not 4)
    assert [o.name for o in [first, *rest]] == [f"Org {n:05d}" for n in range(1, 8)]
    pages = calls()[before:]
    assert [c["query"]["page"] for c in pages] == ["1", "2", "3"]
    assert all(c["query"]["filtermode"] == "organisation" and c["query"]["per_page"] == "3"
               and c["query"]["q[active_eq]"] == "true" for c in pages)


def test_iteration_with_updated_since_and_inactive(client, seed, control):
    # Given an inactive and an active organisation, then a watermark, then one edit
    inactive = seed(_org("Dormant Ltd", active=False))
    active = seed(_org("Awake Ltd"))
    watermark = active["updated_at"]
    time.sleep(0.002)
    control("POST", f"members/{inactive['id']}/edit",
            json={"subdomain": "acme", "changes": {"description": "touched"}})
    # Then updated_since keeps only the later change, and active_only drops inactive ones
    assert [o.name for o in client.iter_organisations(updated_since=watermark,
                                                      active_only=False)] == ["Dormant Ltd"]
    assert list(client.iter_organisations(updated_since=watermark)) == []
    assert [o.name for o in client.iter_organisations()] == ["Awake Ltd"]
    assert {o.name for o in client.iter_organisations(active_only=False)} == {
        "Dormant Ltd", "Awake Ltd"}


FIELDS = ContactFields(
    name="Import Co", address_line1="1 Main St", address_line2="Suite 2", city="Leeds",
    region="West Yorkshire", postcode="LS1 1AA", country="United Kingdom", country_code="GB",
    email="ap@import.example", phone="0113 000", mobile="07700 900000", fax="0113 001",
    tax_number="GB999", account_number="IMP-1",
)


def test_create_then_update_round_trip(client):
    # When an organisation is created from contact fields
    created = client.create_organisation(FIELDS, custom_fields={"linked_contact": "C-1"})
    # Then it reads back with the same fields
    assert created.is_organisation and created.active
    assert created.fields == FIELDS
    assert client.get_organisation(created.id).fields == FIELDS
    assert created.custom_fields == {"linked_contact": "C-1"}
    # When it is updated: a new email, no fax, no mobile, no account number
    changed = ContactFields(**{**FIELDS.__dict__, "email": "new@import.example", "fax": "",
                               "mobile": "", "account_number": ""})
    updated = client.update_organisation(created.id, fields=changed,
                                         custom_fields={"note": "x"})
    # Then the email changed in place, the phones were cleared, the account number kept
    assert updated.fields == ContactFields(**{**changed.__dict__, "account_number": "IMP-1"})
    assert updated.custom_fields == {"linked_contact": "C-1", "note": "x"}
    assert updated.updated_at > created.updated_at
    member = client.get_member(created.id)
    assert [e["address"] for e in member["emails"]] == ["new@import.example"]
    assert [p["phone_type_name"] for p in member["phones"]] == ["Work"]


def test_update_of_custom_fields_alone_makes_one_call(client, seed, calls):
    member = seed(_org("Field Ltd", custom_fields={"a": "1"}))
    before = len(calls())
    updated = client.update_organisation(member["id"], custom_fields={"xero_link": "https://x"})
    assert updated.custom_fields == {"a": "1", "xero_link": "https://x"}
    assert [(c["method"], c["json"]) for c in calls()[before:]] == [
        ("PUT", {"member": {"custom_fields": {"xero_link": "https://x"}}})]


def test_update_of_a_deleted_member_and_a_refused_body_are_rejected(client, seed):
    with pytest.raises(Rejected):
        client.update_organisation(555555, fields=FIELDS)
    member = seed(_org("Valid Ltd"))
    with pytest.raises(Rejected) as raised:
        client.update_organisation(member["id"], fields=ContactFields(name="  "))
    assert raised.value.status == 422
    assert "Name can't be blank" in raised.value.reason


def test_webhook_register_update_delete(client):
    webhook_id = client.register_webhook(name="Sync: create", event="member_create",
                                         target_url="https://svc.example/w?token=a")
    assert client.list_webhooks() == [{
        "id": webhook_id, "name": "Sync: create", "event": "member_create",
        "target_url": "https://svc.example/w?token=a", "active": True}]
    client.update_webhook(webhook_id, target_url="https://svc.example/w?token=b")
    assert client.list_webhooks()[0]["target_url"] == "https://svc.example/w?token=b"
    client.delete_webhook(webhook_id)
    assert client.list_webhooks() == []
    client.delete_webhook(webhook_id)  # already gone: fine
    with pytest.raises(Rejected):
        client.update_webhook(webhook_id, target_url="https://svc.example/w?token=c")


def test_429_is_rate_limited_with_retry_after_and_5xx_is_transient(client, control):
    control("POST", "faults", json={"path": "/members/1$", "status": 429, "times": 1,
                                    "body": {"errors": ["Rate limit exceeded"]},
                                    "headers": {"Retry-After": "7"}})
    with pytest.raises(RateLimited) as limited:
        client.get_organisation(1)
    assert limited.value.retry_after == 7.0
    control("POST", "faults", json={"path": "/members$", "status": 503, "times": 1})
    with pytest.raises(Transient):
        list(client.iter_organisations())


def test_rate_limit_of_the_stand_in_reaches_the_client_as_rate_limited():
    with ServerThread(create_app(rate_limit=1, window=30.0)) as server:
        requests.post(f"{server.url}/_sandbox/accounts", timeout=5,
                      json={"subdomain": "acme", "api_key": "k"})
        client = CurrentRMS(api_url=f"{server.url}/api/v1", subdomain="acme", api_key="k")
        assert client.get_organisation(1) is None
        with pytest.raises(RateLimited) as limited:
            client.get_organisation(1)
        assert 29 <= limited.value.retry_after <= 30


def test_iteration_follows_the_servers_page_size_when_it_caps_per_page(client, control, calls):
    # Given 250 organisations and a server that serves at most 100 a page
    control("POST", "members/bulk", json={"subdomain": "acme", "count": 250, "prefix": "Big"})
    before = len(calls())
    # When the client asks for 500 a page
    names = [o.name for o in client.iter_organisations(per_page=500)]
    # Then it still gets all 250, in 3 calls
    assert len(names) == 250 and len(set(names)) == 250
    assert [c["query"]["page"] for c in calls()[before:]] == ["1", "2", "3"]
