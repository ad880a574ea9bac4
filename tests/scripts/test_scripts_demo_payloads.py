"""scripts/demo_payloads.py: the bodies of the demo set-up and the commands make run prints."""
from __future__ import annotations

import json
import shlex
from datetime import datetime, timezone

import pytest

from sandbox.__main__ import urls_for
from scripts.demo import webhook_url_at
from scripts.demo_payloads import (
    TENANT_FIELDS,
    events_curl,
    integration_body,
    refresh_body,
    sample_member,
    webhook_body,
    webhook_curl,
)

NOW = datetime(2026, 11, 26, 13, 0, 0, tzinfo=timezone.utc)
CLIENT = ("sandbox-client", "sandbox-secret")
RENTAL = {"subdomain": "demo", "api_key": "rental-key-0123456789"}
ISSUED = {"access_token": "at-1", "refresh_token": "rt-1", "expires_in": 1800, "tenant": "tenant-1"}


def sandbox() -> dict[str, dict[str, str]]:
    return {name: urls_for(name, f"http://127.0.0.1:{8100 + n}")
            for n, name in enumerate(["current_rms", "xero", "quickbooks", "sage"])}


@pytest.mark.parametrize("kind", ["xero", "quickbooks", "sage"])
def test_integration_body_is_the_contract_shape(kind: str) -> None:
    # When the demo integration of one accounting system is described
    body = integration_body(kind, RENTAL, sandbox(), ISSUED, CLIENT, now=NOW)

    # Then it names the sandbox rental account and the stand-in's URLs, tenant and tokens
    assert body["source"] == {**RENTAL, "api_url": "http://127.0.0.1:8100/api/v1"}
    provider = body["provider"]
    assert provider["kind"] == kind
    assert provider[TENANT_FIELDS[kind]] == "tenant-1"
    assert (provider["access_token"], provider["refresh_token"]) == ("at-1", "rt-1")
    assert provider["expires_at"] == "2026-11-26T13:30:00Z"
    assert (provider["client_id"], provider["client_secret"]) == CLIENT
    assert provider["api_url"] == sandbox()[kind]["api_url"]
    assert provider["token_url"] == sandbox()[kind]["token_url"]
    # an update webhook for an unlinked organisation makes its contact: the demo shows a sync
    assert body["policies"]["create_contact_on_edit_if_unlinked"] is True


def test_refresh_body_reactivates_only_when_asked() -> None:
    plain = refresh_body("sage", RENTAL, sandbox(), ISSUED, CLIENT, reactivate=False, now=NOW)
    reactivated = refresh_body("sage", RENTAL, sandbox(), ISSUED, CLIENT, reactivate=True, now=NOW)
    assert "status" not in plain
    assert reactivated["status"] == "active"
    assert plain["provider"]["business_id"] == "tenant-1"
    assert plain["source"]["api_key"] == RENTAL["api_key"]


def test_webhook_body_is_a_valid_member_update() -> None:
    # When the sample webhook is built for the seeded organisation
    member = sample_member()
    body = webhook_body(member["id"], 1796000000, member["name"])

    # Then it passes the webhook's required-field rules (interface §4) as an update of that member
    action = body["action"]
    for key in ("id", "subject_id"):
        assert type(action[key]) is int and 1 <= action[key] < 2**63
    assert (action["subject_type"], action["action_type"]) == ("Member", "update")
    assert action["subject_id"] == 205100
    assert member["membership_type"] == "Organisation"


def test_the_printed_curl_sends_that_body_to_that_url() -> None:
    # Given a webhook URL whose query holds the secret, and a body with a quote in a name
    url = "http://127.0.0.1:8000/webhooks/current-rms/abc?token=s3cret&x=1"
    body = webhook_body(205100, 42, "O'Brien's Hire")

    # When the command is split as a shell would
    words = shlex.split(webhook_curl(url, body))

    # Then curl posts exactly that JSON to exactly that URL
    assert words[:4] == ["curl", "-sS", "-X", "POST"]
    assert words[4] == url
    assert json.loads(words[words.index("-d") + 1]) == body
    assert "Content-Type: application/json" in words


def test_the_events_curl_carries_the_admin_token() -> None:
    words = shlex.split(events_curl("http://127.0.0.1:8000", "tok-123"))
    assert "Authorization: Bearer tok-123" in words
    assert words[-1] == "http://127.0.0.1:8000/api/events"


def test_a_stored_webhook_url_follows_todays_public_url() -> None:
    stored = "http://127.0.0.1:8000/webhooks/current-rms/abc?token=s3cret"
    assert webhook_url_at(stored, "https://demo.example/") == "https://demo.example/webhooks/current-rms/abc?token=s3cret"
