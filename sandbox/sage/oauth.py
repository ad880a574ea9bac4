"""Sage's OAuth2: auto-consenting authorize, and the token endpoint (providers.md §C6).

- ``GET /oauth2/auth/central`` (also ``/authorize``) redirects to ``redirect_uri`` with ``code``,
  ``country`` (Sage adds the business's country, lowercase) and ``state``.
- ``POST /token``, form-encoded, the client authenticating with ``client_id`` and
  ``client_secret`` in the body. An authorization code lives 60 s and is single use.
- Access tokens live ``access_token_lifetime`` (Sage: 300 s); refresh tokens 31 days and rotate
  on every use: the old one is refused at once, with no grace period (third-party guides; the
  safer reading for a client, which must store each new refresh token before using the access
  token).
"""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlencode

from flask import Flask, jsonify, redirect, request

#: "The authorization code will expire after 60 seconds and is for a single use."
CODE_LIFETIME = 60.0
#: ``refresh_token_expires_in`` in Sage's token answers: 31 days.
REFRESH_TOKEN_LIFETIME = 2678400.0
#: Sage's sample callback carries the chosen country; the stand-in's businesses are British.
DEFAULT_COUNTRY = "gb"


@dataclass
class Grant:
    user_id: str
    client_id: str
    expires_at: float
    redirect_uri: str = ""


@dataclass
class TokenStore:
    access_lifetime: float
    refresh_lifetime: float = REFRESH_TOKEN_LIFETIME
    access: dict[str, Grant] = field(default_factory=dict)
    refresh: dict[str, Grant] = field(default_factory=dict)
    codes: dict[str, Grant] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.access.clear()
            self.refresh.clear()
            self.codes.clear()

    def issue(self, user_id: str, client_id: str = "") -> dict[str, Any]:
        """A token answer in Sage's shape (sample code, providers.md §C6)."""
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = time.time()
        with self.lock:
            self.access[access] = Grant(user_id, client_id, now + self.access_lifetime)
            self.refresh[refresh] = Grant(user_id, client_id, now + self.refresh_lifetime)
        return {
            "access_token": access, "scope": "full_access", "token_type": "bearer",
            "expires_in": int(self.access_lifetime), "refresh_token": refresh,
            "refresh_token_expires_in": int(self.refresh_lifetime), "requested_by_id": user_id,
        }

    def user_for(self, access_token: str) -> str | None:
        with self.lock:
            grant = self.access.get(access_token)
        return grant.user_id if grant and grant.expires_at > time.time() else None

    def new_code(self, user_id: str, client_id: str, redirect_uri: str) -> str:
        code = secrets.token_hex(20)
        with self.lock:
            self.codes[code] = Grant(user_id, client_id, time.time() + CODE_LIFETIME, redirect_uri)
        return code

    def redeem(self, table: str, value: str, client_id: str, redirect_uri: str = "") -> str | None:
        """Consume a code or a refresh token (single use either way); the user, or None."""
        with self.lock:
            grant = getattr(self, table).pop(value, None)
        if grant is None or grant.expires_at <= time.time():
            return None
        # Tokens made by ``POST /_sandbox/tokens`` name no client: any client may refresh them.
        if grant.client_id not in ("", client_id):
            return None
        if table == "codes" and redirect_uri and redirect_uri != grant.redirect_uri:
            return None
        return grant.user_id


def install_oauth(
    app: Flask, tokens: TokenStore, *, consenting_user: Callable[[], str],
    clients: dict[str, str] | None,
) -> None:
    """Add the authorize and token routes. ``clients`` maps client ids to secrets (any
    non-empty pair is accepted when None); ``consenting_user`` is who "signs in"."""

    def authorize() -> Any:
        args = request.args
        if args.get("response_type") != "code" or not args.get("client_id"):
            return jsonify(error="invalid_request"), 400
        code = tokens.new_code(consenting_user(), args["client_id"], args.get("redirect_uri", ""))
        query = {"code": code, "country": args.get("country", DEFAULT_COUNTRY).lower()}
        if "state" in args:
            query["state"] = args["state"]
        return redirect(f"{args.get('redirect_uri', '')}?{urlencode(query)}", code=302)

    app.add_url_rule("/oauth2/auth/central", "sage_authorize", authorize)
    app.add_url_rule("/authorize", "sage_authorize_alias", authorize)

    @app.post("/token")
    def token() -> Any:
        form = request.form
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if not client_id or not secret or (clients is not None and clients.get(client_id) != secret):
            return jsonify(error="invalid_client"), 401
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            user = tokens.redeem("codes", form.get("code", ""), client_id, form.get("redirect_uri", ""))
        elif grant_type == "refresh_token":
            user = tokens.redeem("refresh", form.get("refresh_token", ""), client_id)
        else:
            return jsonify(error="unsupported_grant_type"), 400
        if user is None:
            return jsonify(error="invalid_grant"), 400
        return jsonify(tokens.issue(user, client_id))
