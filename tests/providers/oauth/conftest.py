"""A real Redis on db 14 (keys namespaced per test) and a small OAuth token endpoint of our own.

The endpoint rotates refresh tokens, keeps a retired one valid for an optional grace period
(Xero: 30 minutes; Sage: none), answers ``invalid_grant`` for an unknown or spent one, checks the
client authentication, and can "lose" an answer: apply the rotation, then close the connection
(``sandbox.control``'s ``lost`` fault). Its call log is what the tests count.
"""
from __future__ import annotations

import base64
import json
import os
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

import pytest
import redis
from cryptography.fernet import Fernet
from flask import Flask, request

from core.crypto import Vault
from providers.oauth import TokenSet
from sandbox.control import Control, Fault
from sandbox.runner import ServerThread

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
#: Seals a fresh token set kept in Redis until it is stored (``providers.oauth.PendingTokens``).
VAULT = Vault((Fernet.generate_key().decode(),))
CLIENT_ID, CLIENT_SECRET = "app-client", "app-secret"
AUTH_CODE, REDIRECT_URI = "code-1", "http://127.0.0.1/connect/callback"


@pytest.fixture
def namespace() -> str:
    """A name of this test's own: its Redis keys carry it, so runs of the suite at the same
    time (a full-suite run beside a focused one) cannot disturb each other."""
    return uuid.uuid4().hex[:12]


@pytest.fixture
def redis_db(namespace: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as error:  # pragma: no cover - make test starts one
        pytest.fail(f"no Redis at {REDIS_URL}: run `make test`, which starts one ({error})")
    yield client
    for key in client.scan_iter(match=f"*{namespace}*"):
        client.delete(key)


class TokenEndpoint:
    """``POST /token``: authorization_code and rotating refresh_token grants."""

    def __init__(
        self, *, client_auth: str = "basic", grace: float = 0.0, delay: float = 0.0
    ) -> None:
        self.client_auth, self.grace, self.delay = client_auth, grace, delay
        self.valid = {"refresh-0"}
        self.retired: dict[str, float] = {}  # spent refresh token -> end of its grace period
        self.issued = 0
        self.lock = threading.Lock()
        self.control = Control()
        self.app = Flask(__name__)
        self.control.install(self.app, reset=lambda: None)
        self.app.post("/token")(self._token)

    def lose_answers(self, times: int = 1) -> None:
        self.control.faults.append(Fault(path="^/token$", mode="lost", times=times))

    def fail(self, status: int, times: int = 1) -> None:
        self.control.faults.append(Fault(path="^/token$", status=status, times=times))

    def refresh_calls(self) -> list[dict[str, Any]]:
        return [c for c in self.control.calls if "grant_type=refresh_token" in c["body"]]

    def _token(self) -> Any:
        if not self._client_authenticated():
            return {"error": "invalid_client"}, 401
        if request.form.get("grant_type") == "authorization_code":
            grant = (request.form.get("code"), request.form.get("redirect_uri"))
            if grant != (AUTH_CODE, REDIRECT_URI):
                return {"error": "invalid_grant"}, 400
            return self._issue()
        time.sleep(self.delay)  # a refresh takes a moment, so concurrent workers overlap it
        if not self._spend(request.form.get("refresh_token", "")):
            return {"error": "invalid_grant"}, 400
        return self._issue()

    def _spend(self, refresh_token: str) -> bool:
        with self.lock:
            if refresh_token in self.valid:
                self.valid.discard(refresh_token)
                self.retired[refresh_token] = time.monotonic() + self.grace
                return True
            return self.retired.get(refresh_token, 0.0) > time.monotonic()

    def _issue(self) -> dict[str, Any]:
        with self.lock:
            self.issued += 1
            number = self.issued
            self.valid.add(f"refresh-{number}")
        return {
            "access_token": f"access-{number}", "refresh_token": f"refresh-{number}",
            "id_token": f"id-{number}", "expires_in": 1800, "token_type": "Bearer",
            "x_refresh_token_expires_in": 8726400,
        }

    def _client_authenticated(self) -> bool:
        header = request.headers.get("Authorization", "")
        if self.client_auth == "basic":
            expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            return header == f"Basic {expected}" and "client_secret" not in request.form
        return not header and (
            request.form.get("client_id"), request.form.get("client_secret")
        ) == (CLIENT_ID, CLIENT_SECRET)


class RedisTokenStore:
    """The integration's stored tokens, shared by every thread and process (as the database is)."""

    def __init__(self, namespace: str) -> None:
        self.redis = redis.Redis.from_url(REDIS_URL)
        self.key = f"tokens:{namespace}"

    def put(self, tokens: TokenSet) -> None:
        self.redis.set(self.key, json.dumps(tokens.to_dict()))

    def load(self) -> TokenSet:
        return TokenSet.from_dict(json.loads(self.redis.get(self.key)))

    def save(self, tokens: TokenSet) -> None:
        self.put(tokens)
        self.redis.rpush(f"{self.key}:saved", tokens.refresh_token)

    def saved(self) -> list[str]:
        return [v.decode() for v in self.redis.lrange(f"{self.key}:saved", 0, -1)]


def token_set(*, refresh_token: str = "refresh-0", access_token: str = "access-0",
              expires_in: float = -60) -> TokenSet:
    expires_at = datetime.now(timezone.utc) + timedelta(seconds=expires_in)
    return TokenSet(access_token=access_token, refresh_token=refresh_token, expires_at=expires_at)


class _Dispatcher:
    """One loopback server for the session, answering with the current test's endpoint."""

    app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


@pytest.fixture(scope="session")
def token_server() -> Iterator[tuple[_Dispatcher, str]]:
    dispatcher = _Dispatcher()
    with ServerThread(dispatcher) as server:
        yield dispatcher, server.url


@pytest.fixture
def serve(token_server: tuple[_Dispatcher, str]) -> Callable[[TokenEndpoint], str]:
    """``serve(endpoint)`` puts it on loopback and returns its token URL."""
    dispatcher, url = token_server

    def start(endpoint: TokenEndpoint) -> str:
        dispatcher.app = endpoint.app
        return f"{url}/token"

    return start
