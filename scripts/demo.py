"""The demo integrations of ``make run``: one per accounting system, all on the sandbox.

First run: seed the sandbox rental account and one organisation, take tokens from each
accounting stand-in, and create the integrations through the admin API (interface §3). The
webhook URLs (they hold secrets) are kept in ``var/demo.json``, mode 0600.

Later runs: the sandbox starts empty (it keeps its state in memory), so the account, the
organisation and fresh tokens are seeded again and the existing integrations are PATCHed with
them, never duplicated. Their old links point at contacts the new sandbox does not have, so
they are removed, and the webhooks are registered again in the new rental stand-in.
"""
from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any, Mapping

import requests

from core.models import IntegrationStatus
from providers import registry
from scripts import demo_payloads as payloads
from scripts.local_secrets import write_private

#: (connect, read) seconds for every call the demo makes.
TIMEOUT = (3.05, 30.0)
#: Where the webhook path starts in a webhook URL (interface §4).
WEBHOOK_PATH = "/webhooks/current-rms/"

Sandbox = Mapping[str, Mapping[str, str]]


class DemoError(RuntimeError):
    """Raised when a call of the demo set-up gets an answer it cannot go on from."""


class AdminApi:
    """The service's ``/api`` with the admin bearer token; answers as (status, JSON)."""

    def __init__(self, base_url: str, admin_token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {admin_token}"

    def call(self, method: str, path: str, body: Any = None, expect: tuple[int, ...] = (200,)) -> tuple[int, Any]:
        response = self.session.request(method, self.base_url + path, json=body, timeout=TIMEOUT)
        if response.status_code not in expect:
            # The answer never holds a secret (interface §3); the request is named, not shown.
            raise DemoError(f"{method} {path} answered {response.status_code}: {response.text[:500]}")
        return response.status_code, (response.json() if response.content else None)


def post_json(url: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """A call to a stand-in's ``/_sandbox/`` control route."""
    response = requests.post(url, json=body, timeout=TIMEOUT)
    if response.status_code >= 300:
        raise DemoError(f"sandbox {url} answered {response.status_code}: {response.text[:500]}")
    return response.json() if response.content else {}


def seed_rental(sandbox: Sandbox, rental: dict[str, Any]) -> dict[str, Any]:
    """The rental account and the sample organisation, in a freshly started stand-in."""
    base = sandbox["current_rms"]["base_url"]
    post_json(f"{base}/_sandbox/accounts", {"subdomain": rental["subdomain"], "api_key": rental["api_key"]})
    seeded = post_json(f"{base}/_sandbox/members",
                       {"subdomain": rental["subdomain"], "member": payloads.sample_member()})
    member = seeded.get("member", seeded)
    return {**rental, "member_id": member["id"], "member_name": member["name"]}


def issue_tokens(sandbox: Sandbox, kind: str, tenant: str | None, client_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {"client_id": client_id}
    if tenant:
        body["tenant"] = tenant  # the same tenant as before, so the integration still names it
    return post_json(f"{sandbox[kind]['base_url']}/_sandbox/tokens", body)


def create_integration(api: AdminApi, body: dict[str, Any]) -> dict[str, Any]:
    _, created = api.call("POST", "/api/integrations", body, expect=(201,))
    return {"id": created["id"], "webhook_url": created["webhook_url"]}


def refresh_integration(api: AdminApi, integration_id: str, build_patch: Any) -> str | None:
    """PATCH an existing demo integration and register its webhooks again; its webhook URL
    (registering makes a new secret), or ``None`` when it no longer exists (then re-create)."""
    status, current = api.call("GET", f"/api/integrations/{integration_id}", expect=(200, 404))
    if status == 404:
        return None
    api.call("PATCH", f"/api/integrations/{integration_id}",
             build_patch(reactivate=current.get("status") == IntegrationStatus.RECONNECT_NEEDED))
    _, found = api.call("GET", f"/api/integrations/{integration_id}/links")
    for link in found.get("links", []):
        api.call("DELETE", f"/api/integrations/{integration_id}/links/{link['organisation_id']}",
                 expect=(204, 404))
    _, registered = api.call("POST", f"/api/integrations/{integration_id}/register-webhooks",
                             expect=(200, 201, 202))
    return str(registered["webhook_url"])


def set_up_integration(
    api: AdminApi, sandbox: Sandbox, kind: str, rental: Mapping[str, Any],
    known: Mapping[str, Any] | None, client: tuple[str, str],
) -> dict[str, Any]:
    issued = issue_tokens(sandbox, kind, (known or {}).get("tenant"), client[0])
    # A system that signs its webhooks with a key per integration (Xero, interface §10): one
    # per demo integration, kept in var/demo.json (mode 0600) like the webhook URLs.
    pushes = registry.provider_class(kind).ledger_webhooks
    keys = ({"webhook_key": (known or {}).get("webhook_key") or secrets.token_urlsafe(32)}
            if pushes is not None and pushes.secret_env is None else {})

    def build_patch(*, reactivate: bool) -> dict[str, Any]:
        body = payloads.refresh_body(kind, rental, sandbox, issued, client, reactivate=reactivate)
        body["provider"].update(keys)
        return body

    webhook_url = refresh_integration(api, known["id"], build_patch) if known else None
    if known and webhook_url:
        return {**known, **keys, "webhook_url": webhook_url, "tenant": issued["tenant"]}
    body = payloads.integration_body(kind, rental, sandbox, issued, client)
    body["provider"].update(keys)
    created = create_integration(api, body)
    return {**created, **keys, "tenant": issued["tenant"]}


def load_state(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def save_state(path: Path, state: Mapping[str, Any]) -> None:
    write_private(path, json.dumps(state, indent=2) + "\n")


def set_up_demo(api: AdminApi, sandbox: Sandbox, state_path: Path, client: tuple[str, str]) -> dict[str, Any]:
    """Create or refresh every demo integration; returns (and saves) the demo's state."""
    state = load_state(state_path)
    rental = state.get("rental") or {"subdomain": payloads.DEMO_SUBDOMAIN,
                                     "api_key": secrets.token_urlsafe(24)}
    state["rental"] = seed_rental(sandbox, rental)
    integrations = state.setdefault("integrations", {})
    for kind in payloads.demo_kinds(sandbox):
        integrations[kind] = set_up_integration(api, sandbox, kind, state["rental"],
                                                integrations.get(kind), client)
        save_state(state_path, state)  # after each: a failure later never leads to duplicates
    return state


def subscribe_ledger_webhooks(sandbox: Sandbox, state: Mapping[str, Any], service_url: str,
                              environ: Mapping[str, str]) -> list[str]:
    """Have the sandbox's accounting systems that send webhooks (Xero, QuickBooks: each class's
    ``ledger_webhooks``) send them to the demo integrations (interface §10), so a merge, an
    archive or a hand edit made there is followed at once; the ledger poll would catch it later
    anyway. The sandbox keeps no state between runs, so this runs every time. Returns the
    receiving URLs."""
    subscribed: list[str] = []
    for kind, entry in (state.get("integrations") or {}).items():
        pushes = registry.provider_class(kind).ledger_webhooks
        if pushes is None or kind not in sandbox:
            continue
        secret = environ.get(pushes.secret_env) if pushes.secret_env else entry.get("webhook_key")
        if not secret:
            raise DemoError(f"no secret to sign the {kind} stand-in's webhooks "
                            f"({pushes.secret_env or 'provider.webhook_key'})")
        url = service_url + pushes.path.format(integration_id=entry["id"])
        base = sandbox[kind]["base_url"]
        subscription = post_json(f"{base}/_sandbox/webhooks",
                                 {"url": url, "secret": secret, "tenant": entry["tenant"]})
        if pushes.intent_to_receive:
            check = post_json(f"{base}/_sandbox/webhooks/{subscription['id']}/intent", {})
            if not check.get("ok"):
                raise DemoError(f"the service failed the intent-to-receive check at {url}: {check}")
        subscribed.append(url)
    return subscribed


def webhook_url_at(webhook_url: str, public_url: str) -> str:
    """The stored webhook URL below today's PUBLIC_URL (it may differ from the first run's)."""
    path = webhook_url[webhook_url.index(WEBHOOK_PATH):]
    return public_url.rstrip("/") + path
