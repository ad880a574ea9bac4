"""The per-system candidate look-ups (``providers/<kind>/search.py``) against the stand-ins:
each key uses the system's own query, never a listing of every contact."""
from __future__ import annotations

from typing import Any

import pytest

from core.matching import ExactlyOne, NoMatch, Several, Subject, find_match
from core.store import integrations
from providers import factory, search
from tests.matching.matching_support import seed_contact
from tests.support import create_integration

KINDS_BY_EMAIL = ("xero", "quickbooks", "sage")


def provider_of(rt: Any, integration: dict[str, Any]) -> Any:
    return factory.accounting_provider(rt, integrations.get(rt.db, integration["id"]))


def reads(sandbox: Any, kind: str) -> list[str]:
    return [f"{c['method']} {c['path']}" for c in sandbox.calls(kind)
            if "Organisation" not in c["path"] and "businesses" not in c["path"]]


@pytest.mark.parametrize("kind", KINDS_BY_EMAIL)
def test_name_and_email_are_found_by_query(rt, client, admin, sandbox, kind):
    integration = create_integration(client, admin, sandbox, kind)
    tenant = integration["tenant"]
    wanted = seed_contact(sandbox, kind, tenant, "Query Co", "ops@query.test")
    for n in range(5):  # noise the queries must not need to read
        seed_contact(sandbox, kind, tenant, f"Noise {n}", f"n{n}@noise.test")
    provider = provider_of(rt, integration)
    by_name = search.lookup(provider, Subject(1, name="  query co"), ["name"])
    by_email = search.lookup(provider, Subject(1, name="Renamed", email="OPS@query.test"),
                             ["name", "email"])
    assert [c.id for c in by_name] == [wanted] and by_name[0].url
    assert [c.id for c in by_email] == [wanted] and by_email[0].email.lower() == "ops@query.test"
    assert search.lookup(provider, Subject(1, name="Nobody", email="no@body.test"), ["name", "email"]) == []


@pytest.mark.parametrize("kind", ["xero", "sage"])
def test_account_numbers_match_ignoring_punctuation_where_the_system_has_them(rt, client, admin, sandbox, kind):
    integration = create_integration(client, admin, sandbox, kind)
    wanted = seed_contact(sandbox, kind, integration["tenant"], "Numbered", account_number="AB-12")
    provider = provider_of(rt, integration)
    found = search.lookup(provider, Subject(1, name="Other name", account_number="AB-12"),
                          ["name", "account_number"])
    assert [c.id for c in found] == [wanted]
    assert provider_of(rt, integration) and find_match(
        Subject(1, name="x", account_number="ab 12"), search.ledger(provider), ["account_number"], {}
    ) == ExactlyOne(found[0], "account_number")


def test_quickbooks_cannot_match_account_or_tax_numbers_and_says_so(rt, client, admin, sandbox):
    from providers.quickbooks.search import UNMATCHABLE

    integration = create_integration(client, admin, sandbox, "quickbooks")
    seed_contact(sandbox, "quickbooks", integration["tenant"], "Taxed Co")
    provider = provider_of(rt, integration)
    before = len(sandbox.calls("quickbooks"))
    subject = Subject(1, name="Other", account_number="AB-12", tax_number="GB1")
    assert search.lookup(provider, subject, ["account_number", "tax_number"]) == []
    assert len(sandbox.calls("quickbooks")) == before  # nothing asked that cannot answer
    assert set(UNMATCHABLE) == {"account_number", "tax_number"}


@pytest.mark.parametrize("kind", KINDS_BY_EMAIL)
def test_several_candidates_fail_naming_them_with_web_links(rt, client, admin, sandbox, kind):
    integration = create_integration(client, admin, sandbox, kind)
    tenant = integration["tenant"]
    ids = {seed_contact(sandbox, kind, tenant, f"Shared {n}", "shared@acme.test") for n in (1, 2)}
    provider = provider_of(rt, integration)
    subject = Subject(9, name="Acme", email="shared@acme.test")
    found = find_match(subject, search.lookup(provider, subject, ["email"]), ["email"], {})
    assert isinstance(found, Several) and {c.id for c in found.candidates} == ids
    reason = found.reason(subject)
    assert all(c.url and c.url in reason for c in found.candidates)
    assert find_match(subject, [], ["email"], {}) == NoMatch()


def test_quickbooks_names_are_asked_thirty_at_a_time(rt, client, admin, sandbox):
    from providers.quickbooks.search import by_names

    integration = create_integration(client, admin, sandbox, "quickbooks")
    for n in range(3):
        seed_contact(sandbox, "quickbooks", integration["tenant"], f"Batch {n}")
    provider = provider_of(rt, integration)
    before = len(sandbox.calls("quickbooks"))
    found = list(by_names(provider, [f"batch {n}" for n in range(3)] + [f"Missing {n}" for n in range(40)]))
    assert sorted(c.name for c in found) == ["Batch 0", "Batch 1", "Batch 2"]
    assert len(sandbox.calls("quickbooks")) - before == 2  # 43 names: 30 + 13


def test_quickbooks_names_are_found_by_query_ignoring_case(rt, client, admin, sandbox):
    integration = create_integration(client, admin, sandbox, "quickbooks")
    wanted = seed_contact(sandbox, "quickbooks", integration["tenant"], "O'Brien & Co")
    seed_contact(sandbox, "quickbooks", integration["tenant"], "Noise")
    provider = provider_of(rt, integration)
    before = len(sandbox.calls("quickbooks"))
    found = search.lookup(provider, Subject(1, name=" o'brien & CO "), ["name"])
    assert [c.id for c in found] == [wanted] and found[0].url.endswith(f"nameId={wanted}")
    asked = sandbox.calls("quickbooks")[before:]
    assert len(asked) == 1 and "DisplayName" in str(asked[0])


def test_find_names_the_other_organisation_when_the_only_match_is_linked(rt, client, admin, sandbox):
    from core.matching import LinkedElsewhere
    from core.models import ContactFields, Organisation

    integration = create_integration(client, admin, sandbox, "xero")
    contact = seed_contact(sandbox, "xero", integration["tenant"], "Taken Co")
    organisation = Organisation(id=5, name="Taken Co", membership_type="Organisation", active=True,
                                fields=ContactFields(name="Taken Co"))
    found = search.find(provider_of(rt, integration), organisation, ["name"],
                        lambda contact_id: 77 if contact_id == contact else None)
    assert isinstance(found, LinkedElsewhere) and found.organisation_id == 77
    assert "organisation 77" in found.reason(Subject.of(organisation))
