"""OAuth connect (interface §3): single-use state bound to the browser, tokens and tenant stored."""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from core import runtime as runtime_module
from core.runtime import Runtime
from core.settings import Settings
from core.store import integrations
from tests.conftest import make_env, migrate
from tests.support import create_integration

AUTHORIZE_PATHS = {"xero": "/identity/connect/authorize", "quickbooks": "/connect/oauth2",
                   "sage": "/oauth2/auth/central"}
TENANT_KEYS = {"xero": "tenant_id", "quickbooks": "realm_id"}


@pytest.fixture
def connect_app(tmp_path: Any, redis_client: Any, sandbox: Any) -> Any:
    from webhooks import create_app

    env = make_env(f"sqlite:///{tmp_path}/app.db")
    for kind, path in AUTHORIZE_PATHS.items():
        env[f"{kind.upper()}_AUTHORIZE_URL"] = f"{getattr(sandbox, kind)}{path}"
    settings = Settings.from_env(env)
    migrate(settings.database_url)
    rt = Runtime.from_settings(settings)
    yield create_app({"TESTING": True}, rt=rt)
    runtime_module.install(None)
    rt.close()


def consent(client: Any, admin: dict[str, str], integration_id: str) -> tuple[str, dict[str, list[str]]]:
    """Start the flow and let the sandbox consent; the callback path and its query."""
    start = client.get(f"/connect/{integration_id}", headers=admin)
    assert start.status_code == 302
    authorize = urlparse(start.headers["Location"])
    query = parse_qs(authorize.query)
    assert query["redirect_uri"] == ["http://127.0.0.1:9/connect/callback"]
    back = requests.get(start.headers["Location"], allow_redirects=False, timeout=5)
    assert back.status_code == 302, back.text
    callback = urlparse(back.headers["Location"])
    return f"{callback.path}?{callback.query}", parse_qs(callback.query)


@pytest.mark.parametrize("kind", ["xero", "quickbooks", "sage"])
def test_connect_stores_fresh_tokens_and_tenant(kind: str, connect_app: Any, admin: Any, sandbox: Any) -> None:
    client = connect_app.test_client()
    rt = connect_app.extensions["runtime"]
    integration = create_integration(client, admin, sandbox, kind)
    before = integrations.secrets_of(rt.vault, integrations.get(rt.db, integration["id"]))

    path, _ = consent(client, admin, integration["id"])
    answer = client.get(path)

    assert answer.status_code == 200, answer.get_json()
    row = integrations.get(rt.db, integration["id"])
    after = integrations.secrets_of(rt.vault, row)
    assert after["access_token"] and after["access_token"] != before["access_token"]
    assert after["refresh_token"] != before["refresh_token"]
    if kind in TENANT_KEYS:
        assert row.settings["provider"][TENANT_KEYS[kind]]
    assert row.status == "active"


def test_state_is_single_use_and_bound_to_the_browser(connect_app: Any, admin: Any, sandbox: Any) -> None:
    client = connect_app.test_client()
    integration = create_integration(client, admin, sandbox, "xero")
    path, _ = consent(client, admin, integration["id"])

    # Another browser (no binding cookie) cannot finish the flow...
    assert connect_app.test_client().get(path).status_code == 400
    # ... and having been tried, the state is spent for everyone.
    assert client.get(path).status_code == 400


def test_connect_needs_the_admin_token(connect_app: Any, admin: Any, sandbox: Any) -> None:
    client = connect_app.test_client()
    integration = create_integration(client, admin, sandbox, "xero")
    assert client.get(f"/connect/{integration['id']}").status_code == 401
    assert client.get("/connect/callback?state=forged&code=x").status_code == 400


def test_a_refused_code_is_a_clear_400(connect_app: Any, admin: Any, sandbox: Any) -> None:
    client = connect_app.test_client()
    integration = create_integration(client, admin, sandbox, "xero")
    path, query = consent(client, admin, integration["id"])
    forged = path.replace(query["code"][0], "not-a-code-the-sandbox-issued")

    answer = client.get(forged)

    assert answer.status_code == 400
    assert "refused the authorisation code" in answer.get_json()["error"]


def xero_calls_200() -> float:
    from core import metrics

    return metrics.PROVIDER_CALLS.labels(system="xero", status="200")._value.get()


def test_xero_tenant_comes_from_connections_through_the_http_seam(
    connect_app: Any, admin: Any, sandbox: Any, redis_client: Any,
) -> None:
    # Given a Xero integration created for one organisation, whose consent grants another
    client = connect_app.test_client()
    rt = connect_app.extensions["runtime"]
    integration = create_integration(client, admin, sandbox, "xero")
    counted_before = xero_calls_200()

    # When the connect flow completes
    path, _ = consent(client, admin, integration["id"])
    assert client.get(path).status_code == 200

    # Then the tenant is the organisation /connections lists for the fresh token...
    # ... asked once, through ApiClient: counted in the call metrics and by the rate limiter
    assert [c["path"] for c in sandbox.calls("xero") if c["path"].endswith("/connections")] == ["/connections"]
    assert xero_calls_200() == counted_before + 1
    tenant = integrations.get(rt.db, integration["id"]).settings["provider"]["tenant_id"]
    assert tenant and tenant != integration["tenant"]
    fresh = integrations.secrets_of(rt.vault, integrations.get(rt.db, integration["id"]))["access_token"]
    listed = requests.get(f"{sandbox.xero}/connections", timeout=5,
                          headers={"Authorization": f"Bearer {fresh}"}).json()
    assert [c["tenantId"] for c in listed] == [tenant]
    limiter_log = f"ratelimit:xero:{integration['tenant']}:minute"
    assert redis_client.zcard(limiter_log) == 1


def test_quickbooks_realm_comes_from_the_redirect(connect_app: Any, admin: Any, sandbox: Any) -> None:
    client = connect_app.test_client()
    rt = connect_app.extensions["runtime"]
    integration = create_integration(client, admin, sandbox, "quickbooks")

    path, query = consent(client, admin, integration["id"])
    assert client.get(path).status_code == 200

    assert integrations.get(rt.db, integration["id"]).settings["provider"]["realm_id"] == query["realmId"][0]


def test_a_failing_connections_call_keeps_the_tokens_and_the_tenant(
    connect_app: Any, admin: Any, sandbox: Any,
) -> None:
    # Given Xero answering /connections with a 500 (twice: no retry is made here)
    client = connect_app.test_client()
    rt = connect_app.extensions["runtime"]
    integration = create_integration(client, admin, sandbox, "xero")
    requests.post(f"{sandbox.xero}/_sandbox/faults", json={"path": "/connections$", "status": 500, "times": 2},
                  timeout=5).raise_for_status()

    path, _ = consent(client, admin, integration["id"])
    answer = client.get(path)

    # Then the connection is stored and active, and the tenant given at creation stays
    assert answer.status_code == 200, answer.get_json()
    row = integrations.get(rt.db, integration["id"])
    assert row.settings["provider"]["tenant_id"] == integration["tenant"]
    assert row.status == "active"
