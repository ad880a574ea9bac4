"""The QuickBooks Online stand-in: ``create_app`` and the checks every API call passes.

``QUICKBOOKS_API_URL`` is ``<server>/v3``; the token endpoint is
``<server>/oauth2/v1/tokens/bearer`` and the consent page ``<server>/connect/oauth2`` (``/token``
and ``/authorize`` are aliases: the sandbox's common shape). Before any API call: the bearer token
(401 code 3200, lowercase body for an expired token), the realm it was issued for (403 code 3100),
the realm's rate limits (429 code 3001, no Retry-After) and, for writes, a ``requestid`` seen
before (the original answer, replayed). ``intuit-oauth`` finds the endpoints in the OpenID
discovery document, ``<server>/.well-known/openid_configuration`` (``sandbox.quickbooks.oauth``).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, g, request

from sandbox.control import Control
from sandbox.limits import FixedWindow
from sandbox.quickbooks import api, faults, oauth, pages, sandbox_routes
from sandbox.quickbooks.answers import json_response, raw_response, sandbox
from sandbox.quickbooks.store import Store
from sandbox.quickbooks.tokens import REFRESH_TOKEN_LIFETIME, Tokens
from sandbox.webhooks import WebhookSender, quickbooks_sender

#: "500 requests/min per realmId" (providers.md §B5).
RATE_LIMIT = 500
#: "10 concurrent requests" per realm and app (§B5, Intuit's older and still-quoted wording).
#: The newer "10 requests/s" reads as the same cap: sequential calls, each waiting for its
#: answer, are not refused per second (issue 17, gap 6), so the stand-in counts calls in flight.
CONCURRENT_LIMIT = 10
#: "40 batch requests/min per realm+app" (§B5).
BATCH_RATE_LIMIT = 40
#: Access token lifetime, seconds (§B6).
ACCESS_TOKEN_LIFETIME = 3600.0
#: Most items in one batch request; "recommended maximum … 30" (§B4), the hard cap unconfirmed.
MAX_BATCH_ITEMS = 30
API_PREFIX = "/v3/company/"


@dataclass
class QuickBooksSandbox:
    """The stand-in's state: ``app.extensions["sandbox"]``."""

    store: Store
    tokens: Tokens
    minute: FixedWindow
    batch_minute: FixedWindow
    control: Control
    webhooks: WebhookSender
    concurrent_limit: int = CONCURRENT_LIMIT
    #: Calls of each realm in progress now.
    in_flight: dict[str, int] = field(default_factory=dict)
    refused_concurrent: int = 0
    flight_lock: threading.Lock = field(default_factory=threading.Lock)
    max_batch_items: int = MAX_BATCH_ITEMS
    #: Answer an expired token with the lowercase ``{"fault":…}`` body (QuickBooks does, §B3).
    lowercase_expired_fault: bool = True
    #: client_id -> client_secret; ``None`` accepts any HTTP Basic pair.
    clients: dict[str, str] | None = None

    def reset(self) -> None:
        self.store.reset()
        self.tokens.reset()
        self.webhooks.reset()
        self.minute = _fresh(self.minute)
        self.batch_minute = _fresh(self.batch_minute)
        with self.flight_lock:
            self.refused_concurrent = 0

    def stats(self) -> dict[str, Any]:
        windows = (self.minute, self.batch_minute)
        refused = sum(sum(w.refused.values()) for w in windows) + self.refused_concurrent
        with self.flight_lock:
            in_flight = sum(self.in_flight.values())
        return {
            "refused_429": refused,
            "in_flight": in_flight,
            "contacts": self.store.count("Customer"),
            "minorversions": dict(self.store.minorversions),
        }


def create_app(
    *,
    rate_limit: int = RATE_LIMIT,
    window: float = 60.0,
    access_token_lifetime: float = ACCESS_TOKEN_LIFETIME,
    concurrent_limit: int = CONCURRENT_LIMIT,
    batch_rate_limit: int = BATCH_RATE_LIMIT,
    max_batch_items: int = MAX_BATCH_ITEMS,
    refresh_token_lifetime: float = REFRESH_TOKEN_LIFETIME,
    lowercase_expired_fault: bool = True,
    clients: dict[str, str] | None = None,
    webhook_time_scale: float = 1.0,
) -> Flask:
    """A QuickBooks Online stand-in. ``0`` for a limit turns it off; ``webhook_time_scale``
    shrinks the webhook retry ladder (tests)."""
    app = Flask(__name__)
    control = Control()
    state = QuickBooksSandbox(
        store=Store(),
        tokens=Tokens(
            access_lifetime=access_token_lifetime, refresh_lifetime=refresh_token_lifetime
        ),
        minute=FixedWindow(rate_limit, window),
        batch_minute=FixedWindow(batch_rate_limit, window),
        control=control,
        webhooks=quickbooks_sender(webhook_time_scale),
        concurrent_limit=concurrent_limit,
        max_batch_items=max_batch_items,
        lowercase_expired_fault=lowercase_expired_fault,
        clients=clients,
    )
    app.extensions["sandbox"] = state
    app.extensions["sandbox_stop"] = state.webhooks.stop
    control.extra_stats = state.stats
    # Counted before the control hooks run, so an injected delay holds a call in flight.
    app.before_request(_enter)
    app.teardown_request(_leave)
    control.install(app, reset=state.reset)
    app.before_request(_guard)
    app.after_request(_remember)
    api.register(app)
    oauth.register(app)
    sandbox_routes.register(app)
    pages.register(app)
    return app


def _api_realm() -> str | None:
    if not request.path.startswith(API_PREFIX) or request.view_args is None:
        return None
    return str(request.view_args.get("realm_id", "")) or None


def _enter() -> None:
    realm_id = _api_realm()
    if realm_id is None:
        return
    state = sandbox()
    with state.flight_lock:
        state.in_flight[realm_id] = state.in_flight.get(realm_id, 0) + 1
    g.in_flight_realm = realm_id


def _leave(_: BaseException | None) -> None:
    realm_id = g.pop("in_flight_realm", None)
    if realm_id is None:
        return
    state = sandbox()
    with state.flight_lock:
        state.in_flight[realm_id] = max(0, state.in_flight.get(realm_id, 0) - 1)


def _fresh(window: FixedWindow) -> FixedWindow:
    return FixedWindow(window.limit, window.window)


def _guard() -> Response | None:
    """Token, realm, rate limits, minorversion and requestid, before any API view runs."""
    if not request.path.startswith(API_PREFIX) or request.view_args is None:
        return None
    state = sandbox()
    realm_id = str(request.view_args.get("realm_id", ""))
    refused = _authenticate(state, realm_id) or _throttle(state, realm_id)
    if refused is not None:
        return refused
    state.store.minorversions[request.args.get("minorversion", "")] += 1
    return _replay(state, realm_id)


def _authenticate(state: QuickBooksSandbox, realm_id: str) -> Response | None:
    token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    granted_realm, expired = state.tokens.check(token)
    if granted_realm is None:
        return json_response(faults.authentication("Token invalid", lowercase=False), 401)
    if expired:
        body = faults.authentication(
            "Token expired: " + token[-12:], lowercase=state.lowercase_expired_fault
        )
        return json_response(body, 401)
    if granted_realm != realm_id:
        return json_response(faults.authorization(), 403)
    return None


def _throttle(state: QuickBooksSandbox, realm_id: str) -> Response | None:
    # No Retry-After and no remaining-count headers: none are documented (§B5).
    with state.flight_lock:
        crowded = state.concurrent_limit and state.in_flight.get(realm_id, 0) > state.concurrent_limit
        if crowded:
            state.refused_concurrent += 1
    if crowded:
        return json_response(faults.throttled(), 429)
    windows = [state.minute]
    if request.path.endswith("/batch"):
        windows.append(state.batch_minute)
    for limit in windows:
        if limit.hit(realm_id) is not None:
            return json_response(faults.throttled(), 429)
    return None


def _replay(state: QuickBooksSandbox, realm_id: str) -> Response | None:
    """The original answer for a repeated ``requestid`` on a write (§B1 idempotency)."""
    request_id = request.args.get("requestid")
    if request.method != "POST" or not request_id or request.path.endswith("/query"):
        return None
    key = f"{request.path}|{request_id}"
    with state.store.lock:
        seen = state.store.realm(realm_id).replays.get(key)
    if seen is not None:
        return raw_response(seen[1], seen[0])
    g.replay_key = (realm_id, key)
    return None


def _remember(response: Response) -> Response:
    # Every answer the work produced is remembered, faults included: QuickBooks "replays the
    # original response" for the same requestid, whatever it was.
    replay_key = g.pop("replay_key", None)
    if replay_key is not None:
        realm_id, key = replay_key
        store = sandbox().store
        with store.lock:
            store.realm(realm_id).replays[key] = (response.status_code, response.get_data())
    return response
