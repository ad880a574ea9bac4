"""The Sage stand-in over real HTTP, and a logged-in session against it.

One server per module (stopping one takes half a second), reset before every test.
"""
from __future__ import annotations

from typing import Iterator

import pytest
import requests

from sandbox.runner import ServerThread
from sandbox.sage import create_app


@pytest.fixture(scope="module")
def sage_server() -> Iterator[ServerThread]:
    with ServerThread(create_app(rate_limit=1000, window=60.0)) as server:
        yield server


@pytest.fixture
def sage(sage_server: ServerThread) -> ServerThread:
    requests.post(f"{sage_server.url}/_sandbox/reset", timeout=5).raise_for_status()
    return sage_server


@pytest.fixture
def grant(sage: ServerThread) -> dict:
    """Tokens for a new user with one (lead) business, as if consent had just completed."""
    return requests.post(f"{sage.url}/_sandbox/tokens", json={}, timeout=5).json()


@pytest.fixture
def api(sage: ServerThread, grant: dict) -> requests.Session:
    """A session that talks to ``<base>/v3.1`` with the grant's access token."""
    session = _Api(f"{sage.url}/v3.1")
    session.headers["Authorization"] = f"Bearer {grant['access_token']}"
    return session


class _Api(requests.Session):
    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        kwargs.setdefault("timeout", 5)
        return super().request(method, f"{self.base}{url}", *args, **kwargs)
