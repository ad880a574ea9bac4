"""OAuth 2 of the stand-in: the consent page and the token endpoint (providers.md §B6).

Consent is automatic: ``/connect/oauth2`` redirects straight back with ``code``, ``state`` and the
``realmId`` QuickBooks adds (a new company unless ``realmId`` is asked for). The token endpoint
takes a form body and HTTP Basic client authentication; failures are 400 ``invalid_grant``.
"""
from __future__ import annotations

import base64
import binascii
from urllib.parse import urlencode

from flask import Flask, Response, redirect, request
from werkzeug.wrappers import Response as WerkzeugResponse

from sandbox.quickbooks.answers import json_response, sandbox

#: Where intuit-oauth reads the endpoints: ``AuthClient(environment=<this URL>)`` (its
#: ``DISCOVERY_URL`` shapes; both environments and the trailing slash are served).
DISCOVERY_PATHS = ("/.well-known/openid_configuration", "/.well-known/openid_configuration/",
                   "/.well-known/openid_sandbox_configuration",
                   "/.well-known/openid_sandbox_configuration/")


def register(app: Flask) -> None:
    for path in ("/connect/oauth2", "/authorize"):
        app.get(path, endpoint=f"authorize{path}")(authorize)
    for path in ("/oauth2/v1/tokens/bearer", "/token"):
        app.post(path, endpoint=f"token{path}")(token)
    for path in DISCOVERY_PATHS:
        app.get(path, endpoint=f"discovery{path}")(discovery)
    app.post("/oauth2/v1/tokens/revoke")(revoke)


def discovery() -> Response:
    """The OpenID discovery document, with the keys intuit-oauth reads (issue 17, gap 7)."""
    base = request.host_url.rstrip("/")
    return json_response({
        "issuer": base,
        "authorization_endpoint": f"{base}/connect/oauth2",
        "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
        "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
        "revocation_endpoint": f"{base}/oauth2/v1/tokens/revoke",
        "jwks_uri": f"{base}/oauth2/v1/keys",
        "response_types_supported": ["code"],
        "scopes_supported": ["openid", "email", "profile", "address", "phone",
                             "com.intuit.quickbooks.accounting"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
    })


def revoke() -> Response:
    """``{"token": <refresh or access token>}`` with HTTP Basic client authentication: 200,
    and the token (with its pair) stops working."""
    if not _client_authenticated():
        return json_response({"error": "invalid_client"}, 401)
    body = request.get_json(silent=True) or {}
    sandbox().tokens.revoke(str(body.get("token") or ""))
    return Response(status=200)


def authorize() -> WerkzeugResponse:
    redirect_uri = request.args.get("redirect_uri", "")
    if not redirect_uri or not request.args.get("client_id"):
        return Response("client_id and redirect_uri are required", status=400)
    if request.args.get("response_type", "code") != "code":
        return Response("unsupported response_type", status=400)
    state = sandbox()
    realm = state.store.realm(request.args.get("realmId") or None)
    code = state.tokens.new_code(realm.id, redirect_uri)
    query = {"code": code, "state": request.args.get("state", ""), "realmId": realm.id}
    separator = "&" if "?" in redirect_uri else "?"
    return redirect(f"{redirect_uri}{separator}{urlencode(query)}", code=302)


def token() -> Response:
    if not _client_authenticated():
        return json_response({"error": "invalid_client"}, 401)
    tokens = sandbox().tokens
    grant_type = request.form.get("grant_type", "")
    if grant_type == "authorization_code":
        pair = tokens.redeem(request.form.get("code", ""), request.form.get("redirect_uri", ""))
    elif grant_type == "refresh_token":
        pair = tokens.refresh(request.form.get("refresh_token", ""))
    else:
        return json_response({"error": "unsupported_grant_type"}, 400)
    if pair is None:
        return json_response({"error": "invalid_grant"}, 400)
    return json_response(pair.to_json())


def _client_authenticated() -> bool:
    """HTTP Basic ``client_id:client_secret`` (§B6), checked against ``clients`` when given."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    clients = sandbox().clients
    if clients is None:
        return bool(client_id)
    return clients.get(client_id) == secret
