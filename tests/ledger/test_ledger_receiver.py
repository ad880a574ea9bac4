"""The ledger receivers' answers to bad or odd input: a clear 4xx, nothing stored, never a 5xx."""
from __future__ import annotations

import json
from typing import Any

import pytest

from tests.ledger.support import VERIFIER_TOKEN, WEBHOOK_KEY, customer_entity, intuit_delivery, sign
from tests.support import create_integration


@pytest.fixture
def xero(client: Any, admin: Any, sandbox: Any) -> dict[str, Any]:
    created = create_integration(client, admin, sandbox, "xero")
    answer = client.patch(f"/api/integrations/{created['id']}", json={"provider": {"webhook_key": WEBHOOK_KEY}},
                          headers=admin)
    assert answer.status_code == 200
    return created


def events_of(client: Any, admin: Any, integration: dict[str, Any]) -> list[dict[str, Any]]:
    return client.get(f"/api/events?integration={integration['id']}", headers=admin).get_json()["events"]


def post_signed(client: Any, integration_id: str, body: bytes, key: str = WEBHOOK_KEY) -> Any:
    return client.post(f"/webhooks/xero/{integration_id}", data=body, headers={"x-xero-signature": sign(key, body)})


def test_unknown_integration_is_404(client: Any) -> None:
    assert post_signed(client, "nope", b'{"events": []}').status_code == 404


def test_a_quickbooks_integration_has_no_xero_webhook(client: Any, admin: Any, sandbox: Any) -> None:
    created = create_integration(client, admin, sandbox, "quickbooks")
    assert post_signed(client, created["id"], b'{"events": []}').status_code == 404


def test_no_webhook_key_refuses_every_delivery(client: Any, admin: Any, sandbox: Any) -> None:
    created = create_integration(client, admin, sandbox, "xero")
    assert post_signed(client, created["id"], b'{"events": []}').status_code == 401


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"events": {}}', b'{"events": [1, 2]}'])
def test_a_signed_but_malformed_body_is_400_and_stores_nothing(
    client: Any, admin: Any, xero: dict[str, Any], body: bytes,
) -> None:
    answer = post_signed(client, xero["id"], body)
    assert answer.status_code == 400, answer.get_json()
    assert events_of(client, admin, xero) == []


def test_an_oversized_body_is_413(client: Any, xero: dict[str, Any]) -> None:
    body = b'{"events": [], "pad": "' + b"x" * (1024 * 1024) + b'"}'
    assert post_signed(client, xero["id"], body).status_code == 413


def test_other_tenants_and_categories_are_ignored_an_unlinked_contact_is_skipped(
    client: Any, admin: Any, xero: dict[str, Any],
) -> None:
    events = [
        {"resourceId": "0f1e2d3c-0000-4000-8000-000000000001", "eventCategory": "CONTACT",
         "eventType": "UPDATE", "eventDateUtc": "2026-12-05T10:00:00.123", "tenantId": xero["tenant"]},
        {"resourceId": "0f1e2d3c-0000-4000-8000-000000000002", "eventCategory": "CONTACT",
         "eventType": "UPDATE", "eventDateUtc": "2026-12-05T10:00:00.123", "tenantId": "another-tenant"},
        {"resourceId": "0f1e2d3c-0000-4000-8000-000000000003", "eventCategory": "INVOICE",
         "eventType": "UPDATE", "eventDateUtc": "2026-12-05T10:00:00.123", "tenantId": xero["tenant"]},
    ]
    body = json.dumps({"events": events}).encode()
    assert post_signed(client, xero["id"], body).status_code == 200
    stored = events_of(client, admin, xero)
    assert len(stored) == 1
    [event] = stored
    assert (event["kind"], event["status"], event["organisation_id"]) == ("contact_changed", "skipped", None)
    assert event["source"] == "ledger"
    assert event["source_event_id"] == "ledger:0f1e2d3c-0000-4000-8000-000000000001:2026-12-05T10:00:00.123Z"
    # The same delivery again (Xero retries): the same one event
    assert post_signed(client, xero["id"], body).status_code == 200
    assert len(events_of(client, admin, xero)) == 1


def test_quickbooks_without_a_verifier_token_refuses(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN", raising=False)
    assert intuit_delivery(client, "123", [customer_entity("1")]).status_code == 401


def test_quickbooks_unknown_realm_is_answered_and_stores_nothing(
    client: Any, admin: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN", VERIFIER_TOKEN)
    created = create_integration(client, admin, sandbox, "quickbooks")
    assert intuit_delivery(client, "999999999", [customer_entity("1")]).status_code == 200
    assert events_of(client, admin, created) == []
    # A bad entity list is 400 and nothing stored, even with other notifications valid
    body = json.dumps({"eventNotifications": [
        {"realmId": created["tenant"], "dataChangeEvent": {"entities": [customer_entity("5")]}},
        {"realmId": created["tenant"], "dataChangeEvent": {"entities": "nope"}}]}).encode()
    answer = client.post("/webhooks/quickbooks", data=body, headers={"intuit-signature": sign(VERIFIER_TOKEN, body)})
    assert answer.status_code == 400
    assert events_of(client, admin, created) == []


def test_policies_accept_on_contact_archived_and_refuse_nonsense(client: Any, admin: Any, sandbox: Any) -> None:
    created = create_integration(client, admin, sandbox, "xero", policies={"on_contact_archived": "recreate"})
    bad = client.patch(f"/api/integrations/{created['id']}", json={"policies": {"on_contact_archived": "burn"}},
                       headers=admin)
    assert bad.status_code == 400 and "on_contact_archived" in json.dumps(bad.get_json())


def test_links_status_filter_is_checked(client: Any, admin: Any, xero: dict[str, Any]) -> None:
    answer = client.get(f"/api/integrations/{xero['id']}/links?status=weird", headers=admin)
    assert answer.status_code == 400
    ok = client.get(f"/api/integrations/{xero['id']}/links?status=broken", headers=admin)
    assert ok.status_code == 200 and ok.get_json() == {"links": []}
