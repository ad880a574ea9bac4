"""OAuth 2 tokens for the accounting systems (``providers.base.TokenSource``).

One refresh per expiry per integration, across all workers (docs/architecture.md, "Invariants"): the refresh
runs under a Redis lock per integration, and whoever gets the lock loads the stored tokens again
first, so a worker that finds another already refreshed uses that token instead. The rotated
refresh token is saved before the new access token is used or returned: every system rotates it
(Xero A6, QuickBooks B6 "use the latest refresh_token", Sage C6), so losing it means reconnecting.

A refresh whose answer is lost (network error, timeout, 5xx) is retried once with the same old
refresh token: Xero keeps it valid for a 30-minute grace period (providers.md A6); Sage has none,
so there the retry meets ``invalid_grant`` and the integration needs reconnecting. ``invalid_grant``
marks the integration ``reconnect_needed`` (``on_refused``) and raises ``CredentialsRefused``;
other failures raise ``Transient``. Tokens are never logged.

A refresh spends the old refresh token, so the fresh set must not be lost between the token
endpoint's answer and the database (issue 13, finding 4). It is first kept in Redis, sealed with
the vault (``PendingTokens``), then saved, with a few retries; only once the save succeeds is it
removed from Redis. A worker that finds a pending set under the refresh lock stores that set
instead of refreshing the spent token (which would meet ``invalid_grant``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import redis as redis_lib
import requests
import structlog
from sqlalchemy.exc import SQLAlchemyError

from core import metrics
from core.errors import CredentialsRefused, ProviderError, Transient

log = structlog.get_logger(__name__)

#: A token expiring within this many seconds is refreshed before use.
REFRESH_MARGIN = 60.0
#: Tries of one refresh: the first, and one retry with the same refresh token after a lost answer.
REFRESH_ATTEMPTS = 2
#: ``requests`` timeouts (connect, read) for the token endpoint.
DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 20.0)
#: The refresh lock outlives the longest refresh (2 × 23.05 s), so no second refresh can start.
LOCK_TTL = 60.0
#: A worker waiting for another's refresh gives up (``Transient``) after this; past ``LOCK_TTL``
#: so that a refresher that died is outlived.
LOCK_WAIT = LOCK_TTL + 5.0
LOCK_POLL = 0.05
#: Lifetime assumed when an answer names none: the shortest of the three systems (Sage, C6).
DEFAULT_EXPIRES_IN = 300
#: Token-endpoint ``error`` codes that mean the grant or the client is refused for good.
REFUSED_ERRORS = ("invalid_grant", "invalid_client", "unauthorized_client")
#: Answer keys that are credentials, kept out of what ``exchange_code`` returns besides tokens.
TOKEN_KEYS = ("access_token", "refresh_token", "id_token")
CLIENT_AUTH_MODES = ("basic", "body")
#: Tries of saving a fresh token set, and the pause after each failed one (seconds).
SAVE_ATTEMPTS = 3
SAVE_PAUSE = 0.5
#: How long a fresh token set that could not be stored waits in Redis: longer than any outage
#: worth surviving, shorter than the refresh tokens' own lives (Xero 60 days, QuickBooks 100).
PENDING_TTL_SECONDS = 30 * 86400


@dataclass
class TokenSet:
    """An access token, the refresh token that renews it, and when the access token expires."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    #: UTC.
    expires_at: datetime

    def expires_within(self, seconds: float) -> bool:
        return self.expires_at <= datetime.now(timezone.utc) + timedelta(seconds=seconds)

    def to_dict(self) -> dict[str, str]:
        expires_at = self.expires_at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": expires_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TokenSet":
        expires_at = datetime.fromisoformat(str(data["expires_at"]))
        if expires_at.tzinfo is None:  # stored naive: it was written as UTC
            expires_at = expires_at.replace(tzinfo=timezone.utc)
        return cls(
            access_token=data["access_token"],
            refresh_token=data["refresh_token"],
            expires_at=expires_at.astimezone(timezone.utc),
        )


class PendingTokens:
    """A fresh token set kept in Redis, sealed with the vault, until the database has it."""

    def __init__(self, redis: Any, integration_id: str, vault: Any) -> None:
        self.redis = redis
        self.key = f"oauth:pending:{integration_id}"
        self.vault = vault

    def keep(self, tokens: TokenSet) -> None:
        self.redis.set(self.key, self.vault.seal(tokens.to_dict()), ex=PENDING_TTL_SECONDS)

    def get(self) -> TokenSet | None:
        sealed = self.redis.get(self.key)
        if sealed is None:
            return None
        return TokenSet.from_dict(self.vault.open(sealed.decode() if isinstance(sealed, bytes) else sealed))

    def clear(self) -> None:
        self.redis.delete(self.key)


class OAuthTokens:
    """Valid access tokens for one integration, refreshed once per expiry across all workers."""

    def __init__(
        self,
        *,
        redis: Any,
        integration_id: str,
        system: str,
        token_url: str,
        client_id: str,
        client_secret: str,
        client_auth: str,
        load: Callable[[], TokenSet],
        save: Callable[[TokenSet], None],
        on_refused: Callable[[str], None],
        vault: Any,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        _check_client_auth(client_auth)
        self.redis = redis
        self.integration_id = integration_id
        self.system = system
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.client_auth = client_auth
        self.load = load
        self.save = save
        self.on_refused = on_refused
        self.timeout = timeout
        self.pending = PendingTokens(redis, integration_id, vault)
        self._tokens: TokenSet | None = None
        self._log = log.bind(integration_id=integration_id, system=system)

    def access_token(self) -> str:
        """A token valid for at least ``REFRESH_MARGIN`` seconds."""
        if self._tokens is None or self._tokens.expires_within(REFRESH_MARGIN):
            self._tokens = self.load()  # another worker may have refreshed already
        if not self._tokens.expires_within(REFRESH_MARGIN):
            return self._tokens.access_token
        return self._refresh_unless_done(stale=self._tokens.access_token)

    def refresh_after_rejection(self, rejected_token: str) -> str:
        """After a 401: refresh, unless another worker already replaced ``rejected_token``."""
        return self._refresh_unless_done(stale=rejected_token)

    def _refresh_unless_done(self, *, stale: str) -> str:
        lock = self.redis.lock(
            f"oauth:refresh:{self.integration_id}",
            timeout=LOCK_TTL, sleep=LOCK_POLL, blocking_timeout=LOCK_WAIT,
        )
        if not lock.acquire():
            raise Transient("another worker's token refresh is taking too long", system=self.system)
        try:
            kept = self.pending.get()
            if kept is not None:
                # An earlier refresh whose save failed: its refresh token is the live one.
                self._store(kept)
                self._tokens = kept
                if kept.access_token != stale and not kept.expires_within(REFRESH_MARGIN):
                    return kept.access_token
            current = self.load()
            if current.access_token != stale and not current.expires_within(REFRESH_MARGIN):
                self._tokens = current  # refreshed by another worker meanwhile
                return current.access_token
            fresh = self._refresh(current.refresh_token)
            self.pending.keep(fresh)  # the old refresh token is spent: never lose the new one
            self._store(fresh)  # stored before anything uses the new pair
            self._tokens = fresh
            return fresh.access_token
        finally:
            _release(lock)

    def _store(self, tokens: TokenSet) -> None:
        """Save ``tokens``, retrying; then drop them from Redis. After the last failed try they
        stay in Redis for the next worker, and this call raises ``Transient``."""
        for attempt in range(1, SAVE_ATTEMPTS + 1):
            try:
                self.save(tokens)
                break
            except SQLAlchemyError as error:
                self._log.warning("could not store the refreshed tokens", attempt=attempt,
                                  error=type(error).__name__)
                if attempt == SAVE_ATTEMPTS:
                    raise Transient("the refreshed tokens could not be stored yet; kept until they are",
                                    system=self.system) from error
                time.sleep(SAVE_PAUSE * attempt)
        self.pending.clear()

    def _refresh(self, refresh_token: str) -> TokenSet:
        """Refresh, retrying a lost answer with the same refresh token (module docstring)."""
        for _ in range(REFRESH_ATTEMPTS - 1):
            try:
                return self._refresh_once(refresh_token)
            except Transient as error:
                self._log.warning("token refresh failed; retrying with the same refresh token",
                                  error=type(error.__cause__ or error).__name__)
        return self._refresh_once(refresh_token)

    def _refresh_once(self, refresh_token: str) -> TokenSet:
        try:
            tokens = refresh(
                token_url=self.token_url, client_id=self.client_id,
                client_secret=self.client_secret, client_auth=self.client_auth,
                refresh_token=refresh_token, timeout=self.timeout, system=self.system,
            )
        except CredentialsRefused as error:
            self._refused(error)
            raise
        except Transient:
            self._count("failed")
            raise
        self._count("ok")
        self._log.info("token refreshed")
        return tokens

    def _refused(self, error: CredentialsRefused) -> None:
        self._count("refused")
        self._log.warning("refresh token refused; the integration needs reconnecting")
        self.on_refused(f"{self.system} refused the refresh token ({error}); reconnect")

    def _count(self, result: str) -> None:
        metrics.TOKEN_REFRESHES.labels(system=self.system, result=result).inc()


def exchange_code(
    *,
    token_url: str,
    client_id: str,
    client_secret: str,
    client_auth: str,
    code: str,
    redirect_uri: str,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    system: str = "oauth",
) -> tuple[TokenSet, dict[str, Any]]:
    """Exchange an authorization code: the tokens, and the rest of the answer without credentials
    (e.g. QuickBooks' ``x_refresh_token_expires_in``; its ``realmId`` comes on the redirect)."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    answer = _post(token_url, form, client_id, client_secret, client_auth, timeout, system)
    extra = {key: value for key, value in answer.items() if key not in TOKEN_KEYS}
    return _token_set(answer, None, system), extra


def refresh(
    *,
    token_url: str,
    client_id: str,
    client_secret: str,
    client_auth: str,
    refresh_token: str,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    system: str = "oauth",
) -> TokenSet:
    """One refresh (``grant_type=refresh_token``, form-encoded). Where the answer carries no new
    refresh token the old one stays in use."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    answer = _post(token_url, form, client_id, client_secret, client_auth, timeout, system)
    return _token_set(answer, refresh_token, system)


def _post(
    token_url: str, form: dict[str, str], client_id: str, client_secret: str,
    client_auth: str, timeout: tuple[float, float], system: str,
) -> dict[str, Any]:
    """POST to the token endpoint; the JSON answer, or a typed error."""
    _check_client_auth(client_auth)
    auth = (client_id, client_secret) if client_auth == "basic" else None
    if client_auth == "body":
        form = {**form, "client_id": client_id, "client_secret": client_secret}
    try:
        response = requests.post(
            token_url, data=form, auth=auth, timeout=timeout,
            headers={"Accept": "application/json"},
        )
    except requests.RequestException as error:  # the answer, if any, is lost
        raise Transient(f"token endpoint: {type(error).__name__}", system=system) from error
    if response.status_code != 200:
        raise _error_for(response, system)
    try:
        answer = response.json()
    except ValueError as error:
        raise Transient("token endpoint answered with no JSON", system=system) from error
    if not isinstance(answer, dict):
        raise Transient("token endpoint answered with no JSON object", system=system)
    return answer


def _error_for(response: requests.Response, system: str) -> ProviderError:
    """``invalid_grant`` and friends refuse for good; anything else may pass."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    code = str(body.get("error", ""))
    # Only the error code and description are kept: an echo of the request could hold a token.
    detail = f"{code}: {body.get('error_description', '')}".strip(": ")
    status = response.status_code
    if status in (400, 401) and code in REFUSED_ERRORS:
        return CredentialsRefused(
            f"token endpoint: {code}", system=system, status=status, body=detail
        )
    return Transient(f"token endpoint: HTTP {status}", system=system, status=status, body=detail)


def _token_set(answer: dict[str, Any], previous_refresh: str | None, system: str) -> TokenSet:
    access_token = answer.get("access_token")
    refresh_token = answer.get("refresh_token") or previous_refresh
    if not isinstance(access_token, str) or not access_token:
        raise Transient("token endpoint answered without an access token", system=system)
    if not isinstance(refresh_token, str) or not refresh_token:
        raise CredentialsRefused(
            "token endpoint gave no refresh token (was offline access asked for?)", system=system
        )
    try:
        lifetime = float(answer.get("expires_in", DEFAULT_EXPIRES_IN))
    except (TypeError, ValueError):
        lifetime = DEFAULT_EXPIRES_IN
    expires_at = datetime.now(timezone.utc) + timedelta(seconds=lifetime)
    return TokenSet(access_token=access_token, refresh_token=refresh_token, expires_at=expires_at)


def _check_client_auth(client_auth: str) -> None:
    if client_auth not in CLIENT_AUTH_MODES:
        raise ValueError(f"client_auth must be one of {CLIENT_AUTH_MODES}, not {client_auth!r}")


def _release(lock: Any) -> None:
    try:
        lock.release()
    except redis_lib.exceptions.LockError:  # expired meanwhile: nothing of ours to remove
        pass
