"""Issue 6 protections not proven elsewhere: digests at rest, constant-time comparisons, the
MultiFernet key rotation end to end, security headers, the Secure cookie behind https, and
web links from a provider kept only on that provider's https hosts."""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from cryptography.fernet import Fernet

from core import runtime as runtime_module
from core import webhook_tokens
from core.crypto import Vault
from core.errors import ConfigError
from core.runtime import Runtime
from core.settings import Settings
from core.store import integrations
from providers.sage.mapping import safe_web_address, web_link_from
from tests.conftest import ADMIN_TOKEN, TEST_REDIS_URL, make_env, migrate
from tests.support import create_integration, webhook_path

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def integration(client: Any, admin: Any, sandbox: Any) -> dict[str, Any]:
    return create_integration(client, admin, sandbox, "xero", source={"signing_secret": "sig-" + "s" * 40})


def token_of(integration: dict[str, Any]) -> str:
    return integration["webhook_url"].split("token=", 1)[1]


# --- at rest --------------------------------------------------------------------------------


def test_the_webhook_token_is_stored_only_as_its_sha256(rt: Any, integration: Any) -> None:
    # Given an integration and its 256-bit webhook token (43 url-safe characters)
    token = token_of(integration)
    assert len(token) >= 43
    # When its row is read raw from the database
    with rt.db.engine.connect() as connection:
        row = connection.execute(sqlalchemy.text("SELECT * FROM integrations WHERE id = :id"),
                                 {"id": integration["id"]}).mappings().one()
    stored = " ".join(str(v) for v in row.values())
    # Then the token is absent and its SHA-256 is what is kept
    assert token not in stored
    assert row["webhook_token_digest"] == hashlib.sha256(token.encode()).hexdigest()
    # And nothing else of the integration's secrets is readable in the row
    for secret in (integration["api_key"], "sig-" + "s" * 40, "secret"):
        assert secret not in stored.replace(row["sealed_secrets"], ""), secret
    assert row["sealed_secrets"].startswith("gAAAAA")  # a Fernet token


def test_two_integrations_never_share_a_token(client: Any, admin: Any, sandbox: Any) -> None:
    tokens = {token_of(create_integration(client, admin, sandbox, "xero")) for _ in range(3)}
    assert len(tokens) == 3


# --- constant time ----------------------------------------------------------------------------


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, Any]]:
    """Every ``hmac.compare_digest`` call (a timing test would be flaky; this proves the path)."""
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def recording(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    return calls


def test_the_webhook_token_is_compared_in_constant_time(client: Any, rt: Any, integration: Any,
                                                        compared: list[Any]) -> None:
    # When a wrong token is offered
    wrong = webhook_path(integration).split("token=")[0] + "token=wrong-token"
    assert client.post(wrong, json={}).status_code == 401
    # Then its digest went through compare_digest against the stored one
    row = integrations.get(rt.db, integration["id"])
    assert (webhook_tokens.digest("wrong-token"), row.webhook_token_digest) in compared


def test_the_admin_token_is_compared_in_constant_time(client: Any, compared: list[Any]) -> None:
    assert client.get("/api/integrations", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert (b"nope", ADMIN_TOKEN.encode()) in compared
    compared.clear()
    assert client.get("/ops", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert (b"nope", ADMIN_TOKEN.encode()) in compared


def test_the_signature_is_compared_in_constant_time(client: Any, integration: Any, compared: list[Any]) -> None:
    import time

    stamp = int(time.time())
    response = client.post(webhook_path(integration), data=b"{}", headers={"X-Signature": f"t={stamp},v1=abc123"})
    assert response.status_code == 401
    assert any(b == "abc123" for _, b in compared), compared


# --- key rotation (MultiFernet + flask keys rotate) --------------------------------------------


def flask_keys_rotate(database_url: str, keys: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ADMIN_TOKEN": ADMIN_TOKEN, "ENCRYPTION_KEY": keys, "DATABASE_URL": database_url,
           "REDIS_URL": TEST_REDIS_URL, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "webhooks.wsgi", "keys", "rotate"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_key_rotation_end_to_end(tmp_path: Path, redis_client: Any, sandbox: Any, admin: Any) -> None:
    from webhooks import create_app

    # Given integrations sealed with the old key
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    env = make_env(f"sqlite:///{tmp_path}/keys.db", ENCRYPTION_KEY=old)
    migrate(env["DATABASE_URL"])
    rt = Runtime.from_settings(Settings.from_env(env))
    client = create_app({"TESTING": True}, rt=rt).test_client()
    made = [create_integration(client, admin, sandbox, kind) for kind in ("xero", "sage")]
    runtime_module.install(None)
    rt.close()

    # When the new key is put first and `flask keys rotate` runs, then the old key is removed
    run = flask_keys_rotate(env["DATABASE_URL"], f"{new},{old}")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "re-encrypted the secrets of 2 integrations" in run.stdout

    # Then with the new key alone every integration still opens, and the old key opens none
    rt = Runtime.from_settings(Settings.from_env({**env, "ENCRYPTION_KEY": new}))
    try:
        for integration in made:
            row = integrations.get(rt.db, integration["id"])
            assert integrations.secrets_of(rt.vault, row)["source_api_key"] == integration["api_key"]
            with pytest.raises(ConfigError, match="ENCRYPTION_KEY"):
                Vault((old,)).open(row.sealed_secrets)
        # And the service works with it: a sync reads the rental system with the decrypted key
        client = create_app({"TESTING": True}, rt=rt).test_client()
        assert client.post(f"/api/integrations/{made[0]['id']}/register-webhooks", headers=admin).get_json()[
            "webhooks_registered"] is True
    finally:
        runtime_module.install(None)
        rt.close()


def test_without_the_rotation_removing_the_old_key_is_refused_by_name(rt: Any, integration: Any) -> None:
    # Given secrets sealed with the current key, opened with another key only
    row = integrations.get(rt.db, integration["id"])
    # Then the error names the variable and says to keep the old key
    with pytest.raises(ConfigError, match="ENCRYPTION_KEY"):
        Vault((Fernet.generate_key().decode(),)).open(row.sealed_secrets)


# --- headers and cookies --------------------------------------------------------------------


CSP_DIRECTIVES = {"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"}


@pytest.mark.parametrize(("path", "authorised", "no_store"), [
    ("/api/integrations", True, True), ("/api/openapi.json", True, True), ("/api/integrations", False, True),
    ("/ops", True, True), ("/ops", False, True), ("/healthz", False, False), ("/metrics", False, False),
])
def test_security_headers_on_every_kind_of_answer(client: Any, admin: Any, path: str, authorised: bool,
                                                  no_store: bool) -> None:
    response = client.get(path, headers=admin if authorised else {})
    headers = response.headers
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    csp = {d.strip() for d in headers["Content-Security-Policy"].split(";")}
    assert CSP_DIRECTIVES <= csp and not any("unsafe-inline" in d for d in csp), csp
    if no_store:
        assert headers["Cache-Control"] == "no-store"


def test_webhook_answers_carry_the_headers_too(client: Any, integration: Any) -> None:
    response = client.post(webhook_path(integration), json={})
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


@pytest.fixture
def https_client(tmp_path: Any, redis_client: Any) -> Any:
    from webhooks import create_app

    env = make_env(f"sqlite:///{tmp_path}/https.db", PUBLIC_URL="https://accounts.example.com")
    migrate(env["DATABASE_URL"])
    rt = Runtime.from_settings(Settings.from_env(env))
    yield create_app({"TESTING": True}, rt=rt).test_client()
    runtime_module.install(None)
    rt.close()


def sign_in(client: Any) -> Any:
    form = client.get("/ops").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    return client.post("/ops/sign-in", data={"token": ADMIN_TOKEN, "csrf_token": csrf, "next": "/ops"})


def test_the_session_cookie_is_secure_behind_https(https_client: Any) -> None:
    # When signing in to the ops page of a service whose PUBLIC_URL is https
    answer = sign_in(https_client)
    # Then its session cookie is Secure, HttpOnly and SameSite=Lax
    cookie = next(c for c in answer.headers.getlist("Set-Cookie") if c.startswith("session="))
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"secure", "httponly", "samesite=lax"} <= flags, cookie


def test_the_session_cookie_is_not_secure_on_plain_http(client: Any) -> None:
    # The control case: the Secure flag follows PUBLIC_URL (a local http run can sign in)
    answer = sign_in(client)
    cookie = next(c for c in answer.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "secure" not in {part.strip().lower() for part in cookie.split(";")}


# --- web links from a provider answer ---------------------------------------------------------


@pytest.mark.parametrize("href", [
    "https://accounts-extra.sageone.com/contacts/customers/1", "https://app.sage.com/x",
    "https://accounting.na.sageone.com/contacts/customers/2",
])
def test_sage_web_links_on_its_https_hosts_are_kept(href: str) -> None:
    assert safe_web_address(href) == href
    assert web_link_from([{"rel": "alternate", "type": "text/html", "href": href}]) == href


@pytest.mark.parametrize("href", [
    "http://accounts-extra.sageone.com/contacts/1", "https://evil.example/?.sage.com",
    "https://sage.com.evil.example/x", "https://evil.example#.sageone.com", "javascript:alert(1)//.sage.com",
    "https://x.sage.com@evil.example/", "https://evilsage.com/", "//accounts.sageone.com/x", None, 42,
])
def test_other_web_links_from_a_provider_answer_are_dropped(href: Any) -> None:
    assert safe_web_address(href) is None
    assert web_link_from([{"rel": "alternate", "type": "text/html", "href": href}]) is None


# --- CSV export: formula injection --------------------------------------------------------------


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_every_formula_start_is_defused_in_the_export(start: str) -> None:
    import csv
    import io

    from workers.bulk.csv_format import write_lines

    # Given an organisation and a contact whose names start like a spreadsheet formula
    hostile = f"{start}HYPERLINK(\"https://evil.example\")"
    text = "".join(write_lines("Linked Xero contact", [(7, hostile, hostile)]))
    # When the export is read back as a spreadsheet would
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))
    # Then every such cell starts with a quote, so it is text, never a formula
    assert rows[1][1] == "'" + hostile and rows[1][2] == "'" + hostile, rows
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in rows[1])


# --- no URL from input is fetched -----------------------------------------------------------------


def test_urls_in_a_webhook_body_are_never_fetched(client: Any, admin: Any, rt: Any, sandbox: Any) -> None:
    from flask import Flask

    from sandbox.runner import ServerThread
    from tests.support import RunningWorker, seed_organisation, wait_event

    # Given a server that records every request, named by every URL-looking field of a delivery
    trap, hits = Flask("trap"), []

    @trap.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT"])
    @trap.route("/<path:path>", methods=["GET", "POST", "PUT"])
    def _hit(path: str) -> str:
        hits.append(path)
        return "{}"

    integration = create_integration(client, admin, sandbox, "xero")
    member = seed_organisation(sandbox, integration["subdomain"])
    with ServerThread(trap) as server, RunningWorker(rt):
        body = {"action": {"id": 77, "subject_id": member["id"], "subject_type": "Member", "action_type": "create",
                           "url": f"{server.url}/action", "callback_url": f"{server.url}/callback",
                           "subject": {"href": f"{server.url}/subject", "api_url": f"{server.url}/api"}},
                "links": [{"href": f"{server.url}/links"}], "target_url": f"{server.url}/target"}
        # When it is delivered and processed
        answer = client.post(webhook_path(integration), json=body)
        assert answer.status_code == 202, answer.get_json()
        event = wait_event(client, admin, answer.get_json()["event_id"], timeout=30)
    # Then the organisation was synced from the configured rental-system URL, and the trap saw nothing
    assert event["status"] == "succeeded", event
    assert hits == []
