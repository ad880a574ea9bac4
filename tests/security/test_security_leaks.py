"""No leaks (issue 6): a full run with known secrets, then every answer and every log line is
searched for each of them.

The run: one integration per accounting system (distinctive API key, client id and secret, a
signing secret on one), syncs through a worker, an OAuth refresh (tokens given already
expired), an OAuth connect, provider faults whose error bodies echo the tokens, a webhook-token
rotation, then every GET route of ``/api`` and ``/ops`` opened. The only answers allowed to hold
a webhook token are the ones that hand it out (creation, rotation, registration: interface §3).
"""
from __future__ import annotations

import io
import json
import logging
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import structlog

from core import logging as app_logging
from core import runtime as runtime_module
from core.runtime import Runtime
from core.settings import Settings
from core.store import integrations
from tests.conftest import ADMIN_TOKEN, make_env, migrate
from tests.support import (
    PROVIDER_PATHS,
    RunningWorker,
    seed_organisation,
    wait_event,
    webhook_path,
)

AUTHORIZE_PATHS = {"xero": "/identity/connect/authorize", "quickbooks": "/connect/oauth2",
                   "sage": "/oauth2/auth/central"}
#: Routes the walk cannot open with a plain GET (streams, redirects to a provider).
SKIPPED_RULES = ("/connect/", "/webhooks/", "/static/")


class Recorder:
    """The Flask test client, keeping every answer (body and headers) for the final search."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.answers: list[tuple[str, str]] = []
        self.handing_out_tokens: list[str] = []

    def call(self, method: str, path: str, *, hands_out_token: bool = False, **kwargs: Any) -> Any:
        response = getattr(self.client, method)(path, **kwargs)
        text = response.get_data(as_text=True) + json.dumps(dict(response.headers))
        (self.handing_out_tokens if hands_out_token else self.answers).append(text)
        return response


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every log line: structlog (with the app's processors) and the stdlib loggers (werkzeug,
    urllib3, gunicorn's, the app's own), at DEBUG, into one buffer; a process part that
    configures logging again (the app, the worker) still writes there."""
    buffer = io.StringIO()
    configure = app_logging.configure

    def configure_into_buffer(level: str = "DEBUG") -> None:
        configure("DEBUG")
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(buffer))

    monkeypatch.setattr(app_logging, "configure", configure_into_buffer)
    configure_into_buffer()
    handler = logging.StreamHandler(buffer)
    # The werkzeug lines here are the stand-ins' own access logs (Xero's, not ours: the app runs
    # in the test client; in production gunicorn's access log, redacted, tests/scripts covers it).
    handler.addFilter(lambda record: record.name != "werkzeug")
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(previous)
    configure()


@pytest.fixture
def leak_rt(tmp_path: Any, redis_client: Any, sandbox: Any, logs: Any) -> Any:
    env = make_env(f"sqlite:///{tmp_path}/leaks.db")
    for kind, path in AUTHORIZE_PATHS.items():
        env[f"{kind.upper()}_AUTHORIZE_URL"] = f"{getattr(sandbox, kind)}{path}"
    settings = Settings.from_env(env)
    migrate(settings.database_url)
    rt = Runtime.from_settings(settings)
    runtime_module.install(rt)
    yield rt
    runtime_module.install(None)
    rt.close()


@pytest.fixture
def api(leak_rt: Any, logs: Any) -> Recorder:
    from webhooks import create_app

    app = create_app({"TESTING": True}, rt=leak_rt)
    recorder = Recorder(app.test_client())
    recorder.app = app  # type: ignore[attr-defined]
    return recorder


def create(api: Recorder, sandbox: Any, kind: str, secrets: list[str], *, signed: bool = False) -> dict[str, Any]:
    subdomain = f"leak{uuid.uuid4().hex[:8]}"
    api_key = f"apikey-{uuid.uuid4().hex}"
    sandbox.control("current_rms", "accounts", subdomain=subdomain, api_key=api_key)
    tokens = sandbox.control(kind, "tokens")
    api_path, token_path, tenant_key = PROVIDER_PATHS[kind]
    base = getattr(sandbox, kind)
    source = {"subdomain": subdomain, "api_key": api_key, "api_url": f"{sandbox.current_rms}/api/v1"}
    if signed:
        source["signing_secret"] = f"signing-{uuid.uuid4().hex}"
    provider = {
        "kind": kind, tenant_key: tokens["tenant"], "client_id": f"clientid-{uuid.uuid4().hex}",
        "client_secret": f"clientsecret-{uuid.uuid4().hex}", "access_token": tokens["access_token"],
        "refresh_token": tokens["refresh_token"],
        # Already expired: the first sync refreshes them (an OAuth refresh in the run).
        "expires_at": (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat(),
        "api_url": f"{base}{api_path}", "token_url": f"{base}{token_path}",
    }
    body = {"name": f"Leaks to {kind}", "source": source, "provider": provider, "policies": {}}
    response = api.call("post", "/api/integrations", json=body, headers=admin_headers(), hands_out_token=True)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    # (The client id is public by OAuth's design: it is in every authorize redirect.)
    secrets += [api_key, provider["client_secret"], provider["access_token"],
                provider["refresh_token"], created["webhook_url"].split("token=", 1)[1]]
    secrets += [source["signing_secret"]] if signed else []
    return {**created, "subdomain": subdomain, "kind": kind}


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def signed_webhook(api: Recorder, integration: dict[str, Any], secret: str, member_id: int) -> Any:
    from webhooks.signatures import sign

    body = json.dumps({"action": {"id": int(time.time() * 1000), "subject_id": member_id,
                                  "subject_type": "Member", "action_type": "create"}}).encode()
    stamp = int(time.time())
    return api.call("post", webhook_path(integration), data=body, content_type="application/json",
                    headers={"X-Signature": f"t={stamp},v1={sign(secret, stamp, body)}"})


def sync(api: Recorder, sandbox: Any, integration: dict[str, Any], secrets: list[str]) -> dict[str, Any]:
    # At most 10 characters: Sage refuses a longer contact reference (Swagger maxLength 10).
    membership = {"id": 205000, "number": f"A-{uuid.uuid4().hex[:8]}", "tax_number": "GB123456789"}
    member = seed_organisation(sandbox, integration["subdomain"], membership=membership)
    signing = next((s for s in secrets if s.startswith("signing-")), None)
    if integration["source"]["signed"]:
        answer = signed_webhook(api, integration, signing or "", member["id"])
    else:
        answer = api.call("post", webhook_path(integration), json={"action": {
            "id": int(time.time() * 1000), "subject_id": member["id"], "subject_type": "Member",
            "action_type": "create"}})
    assert answer.status_code == 202, answer.get_json()
    return wait_event(api.client, admin_headers(), answer.get_json()["event_id"], timeout=30)


def echoing_fault(sandbox: Any, kind: str, tokens: dict[str, str], webhook_token: str) -> None:
    """The provider's next call fails with a body that repeats our credentials back."""
    body = {"error": "invalid_request", "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"], "client_secret": tokens["client_secret"],
            "message": f"Authorization: Bearer {tokens['access_token']}",
            "url": f"https://x.example/webhooks/current-rms/1?token={webhook_token}&a=1"}
    fault = {"path": ".*", "status": 400, "body": body, "times": 1}
    requests.post(f"{getattr(sandbox, kind)}/_sandbox/faults", json=fault, timeout=5).raise_for_status()


def stored_tokens(rt: Any, integration_id: str) -> dict[str, str]:
    return integrations.secrets_of(rt.vault, integrations.get(rt.db, integration_id))


def connect(api: Recorder, integration: dict[str, Any], secrets: list[str]) -> None:
    start = api.call("get", f"/connect/{integration['id']}", headers=admin_headers(), hands_out_token=True)
    assert start.status_code == 302
    secrets.append(parse_qs(urlparse(start.headers["Location"]).query)["state"][0])
    logging.disable(logging.CRITICAL)  # the browser's own request log is not the service's
    try:
        back = requests.get(start.headers["Location"], allow_redirects=False, timeout=5)
    finally:
        logging.disable(logging.NOTSET)
    callback = urlparse(back.headers["Location"])
    secrets.append(parse_qs(callback.query)["code"][0])
    answer = api.call("get", f"{callback.path}?{callback.query}")
    assert answer.status_code == 200, answer.get_json()


def walk(api: Recorder, ids: dict[str, str]) -> int:
    """Open every GET route of /api and /ops with the run's ids; the number opened."""
    opened = 0
    for rule in api.app.url_map.iter_rules():  # type: ignore[attr-defined]
        if "GET" not in (rule.methods or ()) or rule.rule.startswith(SKIPPED_RULES):
            continue
        if not rule.rule.startswith(("/api", "/ops", "/healthz", "/readyz", "/metrics")):
            continue
        if any(argument not in ids for argument in rule.arguments):
            continue
        path = rule.build({name: ids[name] for name in rule.arguments}, append_unknown=False)[1]
        extra = "?q=Org" if path.endswith("/contacts") else ""
        response = api.call("get", path + extra, headers=admin_headers())
        assert response.status_code < 500, (path, response.status_code)
        opened += 1
    return opened


def test_no_secret_reaches_an_answer_or_a_log(api: Recorder, leak_rt: Any, sandbox: Any, logs: Any) -> None:
    secrets: list[str] = [ADMIN_TOKEN, *leak_rt.settings.encryption_keys]
    with RunningWorker(leak_rt):
        # Given one integration per accounting system, synced once (their tokens refreshed)
        made = [create(api, sandbox, kind, secrets, signed=kind == "xero") for kind in PROVIDER_PATHS]
        events = [sync(api, sandbox, integration, secrets) for integration in made]
        assert [e["status"] for e in events] == ["succeeded"] * 3, events
        for integration in made:
            refreshed = stored_tokens(leak_rt, integration["id"])
            secrets += [refreshed["access_token"], refreshed["refresh_token"]]
        credentials = [s for s in secrets if s not in {m["webhook_url"].split("token=", 1)[1] for m in made}]

        # And a provider fault whose error body echoes the credentials, for each system
        failed = []
        for integration in made:
            tokens = stored_tokens(leak_rt, integration["id"])
            echoing_fault(sandbox, integration["kind"], tokens, secrets[-1])
            failed.append(sync(api, sandbox, integration, secrets))
        assert {e["status"] for e in failed} <= {"failed", "retrying"}, failed
        assert all("[redacted]" in e["last_error"] for e in failed), failed  # the echo was stored, scrubbed

    # And an OAuth connect, a webhook-token rotation and a re-registration
    connect(api, made[0], secrets)
    after_connect = stored_tokens(leak_rt, made[0]["id"])
    secrets += [after_connect["access_token"], after_connect["refresh_token"]]
    for action in ("rotate-webhook-token", "register-webhooks"):
        answer = api.call("post", f"/api/integrations/{made[1]['id']}/{action}", headers=admin_headers(),
                          hands_out_token=True)
        secrets.append(answer.get_json()["webhook_url"].split("token=", 1)[1])
    api.call("patch", f"/api/integrations/{made[2]['id']}", headers=admin_headers(),
             json={"provider": {"client_secret": f"clientsecret-{uuid.uuid4().hex}"}})

    # When every GET route of the API and the ops page is opened
    ids = {"integration_id": made[0]["id"], "event_id": failed[0]["id"], "organisation_id": str(
        failed[0]["organisation_id"]), "job_id": "none"}
    assert walk(api, ids) >= 10
    credentials += [after_connect["access_token"], after_connect["refresh_token"]]

    # Then no answer and no log line holds any of the secrets
    captured = logs.getvalue()
    # The capture saw both kinds (the webhook's own line is gunicorn's access line since issue 18:
    # tests/scripts/test_scripts_gunicorn_conf.py checks that one)
    assert "event processed" in captured and "urllib3" in captured
    assert len(set(secrets)) >= 3 * 7
    for secret in set(secrets):
        assert len(secret) >= 16, secret
        leaking = [answer[max(0, answer.find(secret) - 300):answer.find(secret) + 60]
                   for answer in api.answers if secret in answer]
        assert leaking == [], (secret[:6], leaking)
        assert secret not in captured, (secret[:6], captured[max(0, captured.find(secret) - 300):][:600])
    # And the answers that hand out a webhook token or an OAuth state hold no credential
    for answer in api.handing_out_tokens:
        assert [s[:6] for s in credentials if s in answer] == [], answer[:300]
