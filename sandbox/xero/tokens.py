"""OAuth tokens of the Xero stand-in (providers.md A6).

Access tokens live 30 minutes. Every refresh rotates the refresh token; the old one stays usable
for a 30-minute grace period and then answers the *same* new pair, so a client that lost the
refresh answer can recover it (developer.xero.com/faq/oauth2). Unused refresh tokens expire
after 60 days. Tokens are opaque random strings (Xero's are JWTs; nothing here reads them).
"""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

ACCESS_TOKEN_LIFETIME = 30 * 60.0  #: seconds (A6)
REFRESH_GRACE = 30 * 60.0  #: seconds an old refresh token still answers after rotation (A6)
REFRESH_TOKEN_LIFETIME = 60 * 24 * 3600.0  #: unused refresh tokens expire after 60 days (A6)
CODE_LIFETIME = 5 * 60.0  #: authorization codes: unconfirmed for Xero; single use in any case


@dataclass
class Grant:
    """What a user consented to: one tenant, for one client, with these scopes."""

    tenant: str
    #: ``None``: any client may use it (tokens from the control route, whose tests name
    #: their own client credentials later).
    client_id: str | None
    scope: str


@dataclass
class RefreshToken:
    grant: Grant
    issued_at: float
    rotated_at: float | None = None
    #: The answer of the rotation, replayed during the grace period.
    answer: dict[str, Any] | None = None


@dataclass
class AccessToken:
    grant: Grant
    expires_at: float  #: wall-clock seconds
    revoked: bool = False


@dataclass
class Code:
    grant: Grant
    redirect_uri: str
    expires_at: float


@dataclass
class TokenStore:
    """Thread-safe issue, check, refresh and revocation of tokens."""

    access_lifetime: float = ACCESS_TOKEN_LIFETIME
    refresh_grace: float = REFRESH_GRACE
    refresh_lifetime: float = REFRESH_TOKEN_LIFETIME
    access: dict[str, AccessToken] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    codes: dict[str, Code] = field(default_factory=dict)
    refreshes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, grant: Grant) -> dict[str, Any]:
        """A fresh pair, in the shape of Xero's token answer."""
        with self._lock:
            return self._issue(grant)

    def _issue(self, grant: Grant) -> dict[str, Any]:
        now = time.time()
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.access[access] = AccessToken(grant, now + self.access_lifetime)
        self.refresh_tokens[refresh] = RefreshToken(grant, now)
        return {
            "access_token": access, "expires_in": int(self.access_lifetime),
            "token_type": "Bearer", "refresh_token": refresh, "scope": grant.scope,
        }

    def check(self, token: str) -> tuple[Grant | None, str]:
        """The grant behind a bearer token, or ``None`` and the 401 ``Detail`` (A3)."""
        with self._lock:
            found = self.access.get(token)
        if found is None or found.revoked:
            return None, "AuthenticationUnsuccessful"
        if time.time() >= found.expires_at:
            expired = datetime.fromtimestamp(found.expires_at, timezone.utc)
            return None, f"TokenExpired: token expired at {expired:%m/%d/%Y %H:%M:%S}"
        return found.grant, ""

    def new_code(self, grant: Grant, redirect_uri: str) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self.codes[code] = Code(grant, redirect_uri, time.time() + CODE_LIFETIME)
        return code

    def redeem(self, code: str, client_id: str, redirect_uri: str) -> dict[str, Any] | None:
        """Exchange a code once; ``None`` (invalid_grant) when unknown, used, late or mismatched."""
        with self._lock:
            found = self.codes.pop(code, None)
            if found is None or time.time() > found.expires_at:
                return None
            if found.grant.client_id != client_id or found.redirect_uri != redirect_uri:
                return None
            return self._issue(found.grant)

    def refresh(self, token: str, client_id: str) -> dict[str, Any] | None:
        """Rotate ``token``; within the grace period an old token replays its rotation."""
        now = time.time()
        with self._lock:
            found = self.refresh_tokens.get(token)
            if found is None or found.grant.client_id not in (None, client_id):
                return None
            if found.rotated_at is not None:
                return found.answer if now - found.rotated_at <= self.refresh_grace else None
            if now - found.issued_at > self.refresh_lifetime:
                return None
            found.answer = self._issue(found.grant)
            found.rotated_at = now
            self.refreshes += 1
            return found.answer

    def revoke(self, tenant: str) -> int:
        """Disconnect ``tenant``: every token of it stops working. Returns how many were cut."""
        with self._lock:
            cut = [t for t, r in self.refresh_tokens.items() if r.grant.tenant == tenant]
            for token in cut:
                del self.refresh_tokens[token]
            for access in self.access.values():
                if access.grant.tenant == tenant:
                    access.revoked = True
            return len(cut)

    def expire(self, tenant: str) -> None:
        """Make every access token of ``tenant`` expired now (tests of the 401 refresh)."""
        with self._lock:
            for access in self.access.values():
                if access.grant.tenant == tenant:
                    access.expires_at = min(access.expires_at, time.time() - 1)
