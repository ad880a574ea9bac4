"""One contract, three accounting systems: the same tests run against every provider, built the
way the service builds them (``providers.factory``) and talking to its sandbox stand-in.

Each provider adds its own edge cases in its own folder (SyncToken, Fault 6240 from a vendor,
Sage's reference clash...).
"""
from __future__ import annotations

import re
import uuid
from dataclasses import replace
from typing import Any

import pytest

from core.errors import AccountNumberClash, NameClash
from core.models import ContactFields
from core.store import integrations
from providers import factory
from tests.support import create_integration, seed_organisation

KINDS = ["xero", "quickbooks", "sage"]
WEB_LINKS = {
    "xero": r"^https://go\.xero\.com/organisationlogin/default\.aspx\?shortcode=[^&]+&redirecturl=/Contacts/View/[0-9a-f-]{36}$",
    "quickbooks": r"^https://app\.qbo\.intuit\.com/app/customerdetail\?nameId=\d+$",
    "sage": r"^https://[a-z.-]+\.sageone\.com/contacts/customers/\d+$",
}


def fields(name: str | None = None, **changes: Any) -> ContactFields:
    base = ContactFields(
        name=name or f"Contract Co {uuid.uuid4().hex[:6]}", address_line1="1 Quay Street",
        city="Auckland", region="Auckland", postcode="1010", country="New Zealand",
        country_code="NZ", email="ap@contract.example", phone="09 555 0000",
        tax_number="123-456-789", account_number=f"AC-{uuid.uuid4().hex[:6]}",
    )
    return replace(base, **changes)


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def connected(kind: str, rt: Any, client: Any, admin: Any, sandbox: Any) -> tuple[dict[str, Any], Any]:
    integration = create_integration(client, admin, sandbox, kind)
    provider = factory.accounting_provider(rt, integrations.get(rt.db, integration["id"]))
    return integration, provider


def test_create_then_read_back_by_id_and_by_name(kind: str, connected: Any) -> None:
    _, provider = connected
    wanted = fields()
    created = provider.create_contact(wanted, idempotency_key="contract:1:create")

    assert provider.valid_contact_id(created.id)
    assert re.match(WEB_LINKS[kind], created.url or ""), created.url
    assert provider.get_contact(created.id).name == wanted.name
    # names compare trimmed and case-insensitively, as the systems' own uniqueness rules do
    assert provider.find_by_name(f"  {wanted.name.upper()} ").id == created.id


def test_overwrite_replaces_the_mapped_fields(connected: Any) -> None:
    _, provider = connected
    created = provider.create_contact(fields(), idempotency_key="contract:2:create")

    renamed = fields(name=created.name + " Ltd", email="billing@contract.example")
    updated = provider.update_contact(created.id, renamed, idempotency_key=f"contract:2:update:{created.id}")

    assert updated.id == created.id
    again = provider.get_contact(created.id)
    assert again.name == renamed.name and again.email == "billing@contract.example"


def test_a_second_contact_of_the_same_name(kind: str, connected: Any) -> None:
    _, provider = connected
    first = provider.create_contact(fields("Same Name Traders"), idempotency_key="contract:3:create")
    twin = fields("same name traders")
    if provider.enforces_unique_names:
        with pytest.raises(NameClash):
            provider.create_contact(twin, idempotency_key="contract:4:create")
    else:  # Sage allows duplicate names: the service searches before it creates there
        second = provider.create_contact(twin, idempotency_key="contract:4:create")
        assert second.id != first.id


def test_account_number_clash_where_the_system_has_one(kind: str, connected: Any) -> None:
    _, provider = connected
    provider.create_contact(fields(account_number="DUP-1"), idempotency_key="contract:5:create")
    other = fields(account_number="DUP-1")
    if kind == "quickbooks":  # no account-number field on a QuickBooks customer
        assert provider.create_contact(other, idempotency_key="contract:6:create").id
    else:
        with pytest.raises(AccountNumberClash):
            provider.create_contact(other, idempotency_key="contract:6:create")


def test_search_finds_active_customers_containing_the_text(connected: Any) -> None:
    _, provider = connected
    tag = uuid.uuid4().hex[:6]
    for number in range(12):
        provider.create_contact(fields(f"Searchable {tag} {number:02d}"), idempotency_key=f"contract:s{number}")
    provider.create_contact(fields(f"Unrelated {uuid.uuid4().hex[:6]}"), idempotency_key="contract:s-other")

    found = provider.search(tag, limit=10)

    assert len(found) == 10
    assert all(tag in contact.name for contact in found)


def test_missing_contact_reads_as_none(kind: str, connected: Any) -> None:
    _, provider = connected
    unknown = {"xero": str(uuid.uuid4()), "quickbooks": "999999", "sage": uuid.uuid4().hex}[kind]
    assert provider.get_contact(unknown) is None


def test_link_by_id_through_the_api(kind: str, connected: Any, client: Any, admin: Any, sandbox: Any) -> None:
    integration, provider = connected
    contact = provider.create_contact(fields(), idempotency_key="contract:7:create")
    member = seed_organisation(sandbox, integration["subdomain"])
    base = f"/api/integrations/{integration['id']}/links"

    linked = client.put(f"{base}/{member['id']}", json={"contact_id": contact.id}, headers=admin)
    assert linked.status_code == 200, linked.get_json()
    assert linked.get_json()["contact_id"] == contact.id
    assert re.match(WEB_LINKS[kind], linked.get_json()["url"])

    other = seed_organisation(sandbox, integration["subdomain"])
    taken = client.put(f"{base}/{other['id']}", json={"contact_id": contact.id}, headers=admin)
    assert taken.status_code == 409 and str(member["id"]) in taken.get_json()["error"]
    unknown = {"xero": str(uuid.uuid4()), "quickbooks": "999999", "sage": uuid.uuid4().hex}[kind]
    missing = client.put(f"{base}/{other['id']}", json={"contact_id": unknown}, headers=admin)
    assert missing.status_code == 422


def test_auto_suggest_through_the_api(kind: str, connected: Any, client: Any, admin: Any, sandbox: Any) -> None:
    integration, provider = connected
    tag = uuid.uuid4().hex[:6]
    provider.create_contact(fields(f"Suggest {tag} Hire"), idempotency_key="contract:8:create")
    url = f"/api/integrations/{integration['id']}/contacts"

    assert client.get(f"{url}?q=ab", headers=admin).status_code == 400
    answer = client.get(f"{url}?q={tag}", headers=admin)
    assert answer.status_code == 200
    [suggestion] = answer.get_json()["contacts"]
    assert suggestion["name"] == f"Suggest {tag} Hire" and re.match(WEB_LINKS[kind], suggestion["url"])

    # typing the same text again is answered from the cache: no call to the accounting system
    calls_before = len(sandbox.calls(kind))
    assert client.get(f"{url}?q={tag}", headers=admin).get_json() == answer.get_json()
    assert len(sandbox.calls(kind)) == calls_before


def test_auto_suggest_answers_503_when_the_rate_limit_has_no_room(client: Any, admin: Any, sandbox: Any) -> None:
    # Given a tenant whose budget (shared with other apps, say) allows one call a minute
    integration = create_integration(client, admin, sandbox, "quickbooks",
                                     rate_limits={"quickbooks": {"per_minute": 1}})
    url = f"/api/integrations/{integration['id']}/contacts"
    assert client.get(f"{url}?q=first", headers=admin).status_code == 200

    # When another search needs a call within the same minute
    answer = client.get(f"{url}?q=second", headers=admin)

    # Then it is refused at once with when to come back, rather than hanging the browser
    assert answer.status_code == 503
    assert 1 <= int(answer.headers["Retry-After"]) <= 62  # the window plus the limiter's margin
