"""No secret reaches a log line or a stored error (issue 6, "no leaks")."""
from __future__ import annotations

import json

import structlog

from core import logging as app_logging
from core.logging import REDACTED, redact, scrub


def test_keys_that_name_a_secret_are_blanked_at_any_depth() -> None:
    event = {"integration_id": "abc", "headers": {"Authorization": "Bearer s3cret", "X-Auth-Token": "k"},
             "provider": {"client_secret": "cs", "refresh_token": "rt", "tenant_id": "t"},
             "event_id": "e1", "idempotency_key": "ik"}
    cleaned = redact(event)
    assert cleaned["headers"] == {"Authorization": REDACTED, "X-Auth-Token": REDACTED}
    assert cleaned["provider"] == {"client_secret": REDACTED, "refresh_token": REDACTED, "tenant_id": "t"}
    # ids that merely contain a secret-looking word stay readable
    assert cleaned["event_id"] == "e1" and cleaned["idempotency_key"] == "ik"


def test_tokens_inside_text_are_masked_but_fault_codes_stay() -> None:
    body = ('{"Fault":{"Error":[{"code":"6240"}]},"access_token":"at-1","Authorization":"Bearer b-2"} '
            "POST /webhooks/current-rms/x?token=wh-3&y=1 callback?code=c-4&state=s-5 X-AUTH-TOKEN=k-6")
    cleaned = scrub(body)
    for secret in ("at-1", "b-2", "wh-3", "c-4", "s-5", "k-6"):
        assert secret not in cleaned
    assert '"code":"6240"' in cleaned


def test_a_configured_logger_never_prints_the_webhook_token(capsys) -> None:
    app_logging.configure()
    structlog.get_logger("t").info("request", path="/webhooks/current-rms/i?token=very-secret",
                                   api_key="key-1")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "very-secret" not in json.dumps(line) and line["api_key"] == REDACTED


def test_an_integrations_own_secret_quoted_in_plain_words_is_not_stored(rt, client, admin, sandbox) -> None:
    # Given a Xero answer that quotes the integration's API key in plain words (no token-shaped key)
    import requests

    from core.store import events as event_store
    from tests.support import create_integration, running_worker, seed_organisation, send_webhook, wait_event

    integration = create_integration(client, admin, sandbox, "xero")
    fault = {"path": "/Contacts", "method": "PUT", "status": 400, "times": 5,
             "body": {"Message": f"your key {integration['api_key']} was not accepted"}}
    requests.post(f"{sandbox.xero}/_sandbox/faults", json=fault, timeout=5).raise_for_status()
    member = seed_organisation(sandbox, integration["subdomain"])

    # When the create is refused
    for _worker in running_worker(rt):
        event = wait_event(client, admin, send_webhook(client, integration, member["id"], "create").get_json()["event_id"])

    # Then neither the reason nor the stored error carries the API key
    stored = event_store.get(rt.db, event["id"])
    assert integration["api_key"] not in (stored.last_error or "")
    assert integration["api_key"] not in str(stored.outcome)
