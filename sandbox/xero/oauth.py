"""Xero identity routes: authorize (auto-consent), token, connections (providers.md A6).

Served so that ``XERO_AUTHORIZE_URL=<base>/identity/connect/authorize`` and
``XERO_TOKEN_URL=<base>/connect/token``. ``GET /connections`` stands in for
``https://api.xero.com/connections``, where a client finds the tenant it was granted.
"""
from __future__ import annotations

import base64
import binascii
import secrets
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, redirect, request

from sandbox.xero.api import answer, bearer_token, problem
from sandbox.xero.state import XeroState
from sandbox.xero.tokens import Grant


def build_oauth(state: XeroState, *, clients: dict[str, str] | None,
                default_tenant: str | None) -> Blueprint:
    oauth = Blueprint("xero_oauth", __name__)

    @oauth.get("/identity/connect/authorize")
    def authorize() -> Any:
        args = request.args
        if args.get("response_type") != "code" or not args.get("client_id") or not args.get("redirect_uri"):
            return Response("invalid authorize request", 400, mimetype="text/plain")
        if clients is not None and args["client_id"] not in clients:
            return Response("unauthorized_client", 400, mimetype="text/plain")
        # Consent is automatic; the tenant granted is ``tenant`` (a sandbox extension), the
        # app's default tenant, or a new organisation.
        tenant = state.tenant(args.get("tenant") or default_tenant)
        grant = Grant(tenant.id, args["client_id"], args.get("scope", ""))
        code = state.tokens.new_code(grant, args["redirect_uri"])
        back = {"code": code, "scope": grant.scope, "state": args.get("state", ""),
                "session_state": secrets.token_urlsafe(16)}
        separator = "&" if "?" in args["redirect_uri"] else "?"
        return redirect(args["redirect_uri"] + separator + urlencode(back), 302)

    @oauth.post("/connect/token")
    def token() -> Response:
        client_id = _client(clients)
        if client_id is None:
            return answer({"error": "invalid_client"}, 400)
        form = request.form
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            issued = state.tokens.redeem(form.get("code", ""), client_id, form.get("redirect_uri", ""))
        elif grant_type == "refresh_token":
            issued = state.tokens.refresh(form.get("refresh_token", ""), client_id)
        else:
            return answer({"error": "unsupported_grant_type"}, 400)
        if issued is None:
            return answer({"error": "invalid_grant"}, 400)  # exactly as A3 shows
        return answer(issued, headers={"Cache-Control": "no-store"})

    # xero-python's IdentityApi asks for ``/Connections``; Xero's own docs write ``/connections``.
    # The real host answers both (the SDK works against it), so both are routed.
    @oauth.get("/connections")
    @oauth.get("/Connections", endpoint="connections_sdk")
    def connections() -> Response:
        grant, detail = state.tokens.check(bearer_token())
        if grant is None:
            return problem(401, "Unauthorized", detail)
        tenant = state.tenant(grant.tenant)
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        return answer([{
            "id": tenant.id, "authEventId": tenant.id, "tenantId": tenant.id,
            "tenantType": "ORGANISATION", "tenantName": tenant.name,
            "createdDateUtc": now, "updatedDateUtc": now,
        }])

    return oauth


def _client(clients: dict[str, str] | None) -> str | None:
    """The authenticated client: HTTP Basic (Xero's documented way, A6) or, as xero-python's
    refresh and most OAuth libraries send them, ``client_id`` and ``client_secret`` in the form."""
    header = request.headers.get("Authorization", "")
    if header:
        return _basic_client(header, clients)
    return _checked(request.form.get("client_id", ""), request.form.get("client_secret", ""), clients)


def _checked(client_id: str, secret: str, clients: dict[str, str] | None) -> str | None:
    if not client_id or not secret:
        return None
    if clients is not None and clients.get(client_id) != secret:
        return None
    return client_id


def _basic_client(header: str, clients: dict[str, str] | None) -> str | None:
    """The client id of a valid HTTP Basic header (Xero's client authentication, A6)."""
    if not header.startswith("Basic "):
        return None
    try:
        client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return _checked(client_id, secret, clients)
