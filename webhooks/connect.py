"""OAuth connect: ``GET /connect/<integration_id>`` → the provider → ``GET /connect/callback``.

The ``state`` is single-use (Redis GETDEL), expires in ten minutes, names the integration, and
is bound to a short-lived HttpOnly cookie set by the first answer, so a callback opened in
another browser (or replayed) is refused. The redirect URI comes from ``PUBLIC_URL``, never
from the request.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any
from urllib.parse import urlencode

import structlog
from flask import Blueprint, redirect, request
from werkzeug.wrappers import Response

from core.errors import CredentialsRefused, ProviderError
from core.integration_settings import IntegrationSettings
from core.models import IntegrationStatus
from core.runtime import Runtime
from core.store import integrations
from providers import factory
from providers.base import Consent
from providers.oauth import exchange_code
from providers.registry import provider_class
from webhooks.app_runtime import app_runtime
from webhooks.auth import bearer_ok, session_ok
from webhooks.errors import ApiError

log = structlog.get_logger(__name__)

blueprint = Blueprint("connect", __name__)

STATE_TTL_SECONDS = 600
COOKIE = "connect_binding"




def redirect_uri(rt: Runtime) -> str:
    return f"{rt.settings.public_url}/connect/callback"


@blueprint.get("/connect/<integration_id>")
def start(integration_id: str) -> Response:
    if not (bearer_ok() or session_ok()):
        raise ApiError(401, "sign in first (admin token or ops session)")
    rt = app_runtime()
    integration = integrations.get(rt.db, integration_id) if len(integration_id) <= 64 else None
    if integration is None:
        raise ApiError(404, "no such integration")
    state, binding = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    rt.redis.set(_state_key(state), json.dumps({
        "integration_id": integration.id, "binding": _digest(binding),
    }), ex=STATE_TTL_SECONDS)
    response = redirect(_authorize_url(rt, integration, state))
    response.set_cookie(COOKIE, binding, max_age=STATE_TTL_SECONDS, httponly=True, samesite="Lax",
                        secure=rt.settings.public_url.startswith("https://"), path="/connect")
    return response


def _authorize_url(rt: Runtime, integration: Any, state: str) -> str:
    kind = integration.provider_kind
    app = rt.settings.providers[kind]
    secrets_ = integrations.secrets_of(rt.vault, integration)
    query = {
        "response_type": "code",
        "client_id": secrets_.get("client_id") or app.client_id or "",
        "redirect_uri": redirect_uri(rt),
        "scope": provider_class(kind).oauth_scopes,
        "state": state,
    }
    separator = "&" if "?" in app.authorize_url else "?"
    return f"{app.authorize_url}{separator}{urlencode(query)}"


@blueprint.get("/connect/callback")
def callback() -> tuple[dict[str, Any], int]:
    rt = app_runtime()
    state = request.args.get("state", "")
    raw = rt.redis.getdel(_state_key(state)) if state else None
    if raw is None:
        raise ApiError(400, "unknown, used or expired state; start the connection again")
    saved = json.loads(raw)
    binding = request.cookies.get(COOKIE, "")
    if not hmac.compare_digest(saved["binding"], _digest(binding)):
        raise ApiError(400, "this connection was started in another browser; start it again")
    if request.args.get("error"):
        raise ApiError(400, f"the accounting system refused the connection: {request.args['error'][:200]}")
    code = request.args.get("code", "")
    if not code or len(code) > 4096:
        raise ApiError(400, "no authorisation code in the callback")
    integration = integrations.get(rt.db, saved["integration_id"])
    if integration is None:
        raise ApiError(404, "no such integration")
    _store_connection(rt, integration, code)
    return {"integration_id": integration.id, "status": IntegrationStatus.ACTIVE, "connected": True}, 200


def _store_connection(rt: Runtime, integration: Any, code: str) -> None:
    kind = integration.provider_kind
    app = rt.settings.providers[kind]
    stored = integrations.secrets_of(rt.vault, integration)
    settings = IntegrationSettings.of(integration)
    try:
        tokens, _answer = exchange_code(
            token_url=settings.provider.token_url or app.token_url,
            client_id=stored.get("client_id") or app.client_id or "",
            client_secret=stored.get("client_secret") or app.client_secret or "",
            client_auth=provider_class(kind).oauth_client_auth, code=code,
            redirect_uri=redirect_uri(rt), timeout=rt.settings.http_timeout,
        )
    except CredentialsRefused:
        # invalid_grant and friends: the code was used, expired (Sage: 60 s) or not ours.
        raise ApiError(400, "the accounting system refused the authorisation code; "
                       "start the connection again") from None
    except ProviderError as error:
        raise ApiError(502, f"the token exchange failed: {error.reason}") from None
    integrations.merge_secrets(rt.db, rt.vault, integration.id, {
        "access_token": tokens.access_token, "refresh_token": tokens.refresh_token,
        "expires_at": tokens.expires_at.isoformat(),
    })
    tenant = _tenant(rt, integration)
    if tenant:
        key = provider_class(integration.provider_kind).tenant_key
        integrations.merge_settings(rt.db, integration.id,
                                    {"provider": settings.provider_merged({key: tenant})})
    integrations.set_status(rt.db, integration.id, IntegrationStatus.ACTIVE, None)


def _tenant(rt: Runtime, integration: Any) -> str | None:
    """The tenant the consent was for, found by the provider class's ``tenant_discovery``
    (QuickBooks: the redirect's ``realmId``; Xero: ``/connections``, called with the tokens
    just stored, through the provider's HTTP seam). ``None`` leaves the tenant as it was:
    Sage's lead business is resolved by the provider on first use."""
    discovery = provider_class(integration.provider_kind).tenant_discovery
    if discovery is None:
        return None
    consent = Consent(redirect_query=request.args, context=factory.provider_context(rt, integration))
    try:
        return discovery.tenant(consent)
    except ProviderError as error:
        # The tokens are stored either way; a tenant given at creation stays, else the
        # administrator names it (PATCH) and the first sync says what is missing.
        log.warning("connect.tenant_unknown", integration_id=integration.id, error=str(error))
        return None


def _state_key(state: str) -> str:
    return f"oauth:state:{_digest(state)}"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
