"""The Xero stand-in's app factory and its ``/_sandbox/`` control routes.

Control routes (never logged, never rate limited), beside those of ``sandbox.control``:
``POST /_sandbox/tokens`` ``{"tenant"?, "client_id"?}`` -> a token pair as after consent
(refreshable by any client unless ``client_id`` is named);
``GET /_sandbox/contacts?tenant=`` every contact (archived too) in the API's shape;
``POST /_sandbox/contacts`` ``{"tenant", "contact": {...}}`` seeds one as given;
``POST /_sandbox/revoke`` and ``/_sandbox/expire`` ``{"tenant"}`` cut or expire that tenant's
tokens; ``GET /_sandbox/organisation?tenant=``. Hand edits, archive, delete, merge and the
webhooks: ``sandbox.xero.ledger``; the contact pages: ``sandbox.xero.pages``.
"""
from __future__ import annotations

from typing import Any

from flask import Flask, request

from sandbox.control import CONTROL_PREFIX, Control
from sandbox.webhooks import xero_sender
from sandbox.xero import contacts as shapes
from sandbox.xero import ledger, pages
from sandbox.xero.api import build_api
from sandbox.xero.oauth import build_oauth
from sandbox.xero.state import IDEMPOTENCY_WINDOW, XeroState
from sandbox.xero.throttle import (
    APP_MINUTE_LIMIT,
    CONCURRENT_LIMIT,
    DAY_LIMIT,
    MINUTE_LIMIT,
    Throttle,
)
from sandbox.xero.tokens import ACCESS_TOKEN_LIFETIME, REFRESH_GRACE, Grant, TokenStore

DEFAULT_SCOPE = "offline_access accounting.contacts accounting.settings.read"


def create_app(
    *,
    rate_limit: int = MINUTE_LIMIT,
    window: float = 60.0,
    access_token_lifetime: float = ACCESS_TOKEN_LIFETIME,
    refresh_grace: float = REFRESH_GRACE,
    day_limit: int = DAY_LIMIT,
    day_window: float = 24 * 3600.0,
    concurrent_limit: int = CONCURRENT_LIMIT,
    app_minute_limit: int = APP_MINUTE_LIMIT,
    idempotency_window: float = IDEMPOTENCY_WINDOW,
    clients: dict[str, str] | None = None,
    default_tenant: str | None = None,
    webhook_time_scale: float = 1.0,
) -> Flask:
    """A Xero stand-in. ``clients`` (id -> secret) restricts who may get tokens; ``None``
    accepts any credentials. Shorten ``window``, the lifetimes and the webhook retry ladder
    (``webhook_time_scale``) in tests."""
    state = XeroState(
        tokens=TokenStore(access_lifetime=access_token_lifetime, refresh_grace=refresh_grace),
        throttle=Throttle(minute_limit=rate_limit, window=window, day_limit=day_limit,
                          day_window=day_window, app_minute_limit=app_minute_limit,
                          concurrent_limit=concurrent_limit),
        idempotency_window=idempotency_window,
        webhooks=xero_sender(webhook_time_scale),
    )
    app = Flask(__name__)
    app.extensions["sandbox"] = state
    app.extensions["sandbox_stop"] = state.webhooks.stop
    control = Control()
    control.install(app, reset=state.reset)
    control.extra_stats = lambda: {
        "refused_429": state.throttle.refused(), "contacts": state.contact_count(),
        "tenants": len(state.tenants), "token_refreshes": state.tokens.refreshes,
        "idempotent_replays": state.replays,
    }
    app.register_blueprint(build_api(state))
    app.register_blueprint(build_oauth(state, clients=clients, default_tenant=default_tenant))
    _install_control_routes(app, state)
    ledger.install(app, state)
    pages.install(app, state)
    return app


def _install_control_routes(app: Flask, state: XeroState) -> None:
    def body() -> dict[str, Any]:
        return request.get_json(silent=True) or {}

    @app.post(CONTROL_PREFIX + "tokens")
    def _tokens() -> Any:
        given = body()
        tenant = state.tenant(given.get("tenant"))
        grant = Grant(tenant.id, given.get("client_id"), DEFAULT_SCOPE)
        return {**state.tokens.issue(grant), "tenant": tenant.id}

    @app.get(CONTROL_PREFIX + "contacts")
    def _contacts() -> Any:
        tenant = state.tenant(request.args.get("tenant"))
        with state.lock:
            return {"Contacts": [shapes.render(c, with_merge=True) for c in tenant.contacts.values()]}

    @app.post(CONTROL_PREFIX + "contacts")
    def _seed() -> Any:
        given = body()
        contact = state.seed(state.tenant(given.get("tenant")), given.get("contact") or {})
        return shapes.render(contact, with_merge=True), 201

    @app.post(CONTROL_PREFIX + "revoke")
    def _revoke() -> Any:
        return {"revoked": state.tokens.revoke(str(body().get("tenant", "")).lower())}

    @app.post(CONTROL_PREFIX + "expire")
    def _expire() -> Any:
        state.tokens.expire(str(body().get("tenant", "")).lower())
        return "", 204

    @app.get(CONTROL_PREFIX + "organisation")
    def _organisation() -> Any:
        tenant = state.tenant(request.args.get("tenant"))
        return {"OrganisationID": tenant.id, "Name": tenant.name, "ShortCode": tenant.short_code}
