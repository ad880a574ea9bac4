"""OAuth 2 codes and tokens of the QuickBooks stand-in (providers.md §B6).

Access tokens live ``access_token_lifetime`` seconds (3600 in QuickBooks); refresh tokens 100 days,
rolling, and rotate on every refresh.
"""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

#: "Refresh token valid 100 days, rolling" (§B6); ``x_refresh_token_expires_in`` in seconds.
REFRESH_TOKEN_LIFETIME = 100 * 24 * 3600.0


@dataclass(frozen=True)
class Grant:
    realm_id: str
    expires_at: float


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    realm_id: str

    def to_json(self) -> dict[str, object]:
        """The token endpoint's answer (intuit-oauth field names, §B6)."""
        return {
            "token_type": "bearer",
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_in": self.expires_in,
            "x_refresh_token_expires_in": self.refresh_expires_in,
        }


class Tokens:
    """Issued codes, access tokens and refresh tokens; thread-safe."""

    def __init__(self, *, access_lifetime: float, refresh_lifetime: float = REFRESH_TOKEN_LIFETIME):
        self.access_lifetime = access_lifetime
        self.refresh_lifetime = refresh_lifetime
        self._lock = threading.Lock()
        self._access: dict[str, Grant] = {}
        self._refresh: dict[str, Grant] = {}
        self._codes: dict[str, tuple[str, str]] = {}  # code -> (realm, redirect_uri)

    def reset(self) -> None:
        with self._lock:
            self._access.clear()
            self._refresh.clear()
            self._codes.clear()

    def issue(self, realm_id: str) -> TokenPair:
        now = time.time()
        access = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0." + secrets.token_urlsafe(48)
        refresh = "AB11" + secrets.token_hex(23)
        with self._lock:
            self._access[access] = Grant(realm_id, now + self.access_lifetime)
            self._refresh[refresh] = Grant(realm_id, now + self.refresh_lifetime)
        return TokenPair(
            access, refresh, int(self.access_lifetime), int(self.refresh_lifetime), realm_id
        )

    def check(self, access_token: str) -> tuple[str | None, bool]:
        """``(realm_id, expired)``; ``(None, False)`` for a token never issued."""
        with self._lock:
            grant = self._access.get(access_token)
        if grant is None:
            return None, False
        return grant.realm_id, time.time() >= grant.expires_at

    def refresh(self, refresh_token: str) -> TokenPair | None:
        """A new pair for a live refresh token, which is spent; ``None`` -> ``invalid_grant``.

        Whether QuickBooks keeps the previous refresh token valid after handing out a new one
        is unconfirmed (§B6: "use the latest refresh_token value"): the stand-in takes the safer
        assumption for the client and refuses the old one at once.
        """
        with self._lock:
            grant = self._refresh.pop(refresh_token, None)
        if grant is None or time.time() >= grant.expires_at:
            return None
        return self.issue(grant.realm_id)

    def revoke(self, token: str) -> None:
        """Forget ``token`` (an access or refresh token): revoking either cuts the grant's
        pair. The stand-in cuts every token of that realm, the stricter reading."""
        with self._lock:
            grant = self._refresh.get(token) or self._access.get(token)
            if grant is None:
                return
            for table in (self._access, self._refresh):
                for key in [k for k, g in table.items() if g.realm_id == grant.realm_id]:
                    del table[key]

    def new_code(self, realm_id: str, redirect_uri: str) -> str:
        code = "AB11" + secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = (realm_id, redirect_uri)
        return code

    def redeem(self, code: str, redirect_uri: str) -> TokenPair | None:
        """Exchange a single-use code; a reused code or another redirect_uri -> ``None``."""
        with self._lock:
            entry = self._codes.pop(code, None)
        if entry is None or entry[1] != redirect_uri:
            return None
        return self.issue(entry[0])
