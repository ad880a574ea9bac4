"""Fixtures for the QuickBooks provider tests: the stand-in served over real HTTP."""
from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from sandbox.quickbooks import create_app
from sandbox.runner import ServerThread
from tests.providers.quickbooks.quickbooks_provider_support import Realm


@pytest.fixture(scope="module")
def qbo_server() -> Iterator[ServerThread]:
    """One stand-in with the real limits per module; each test gets a company of its own."""
    with ServerThread(create_app()) as server:
        yield server


@pytest.fixture
def realm(qbo_server: ServerThread) -> Realm:
    return Realm(qbo_server.url, qbo_server.app)


@pytest.fixture
def serve_realm() -> Iterator[Callable[..., Realm]]:
    """A company on a stand-in built with the given ``create_app`` options."""
    servers: list[ServerThread] = []

    def start(**options: Any) -> Realm:
        server = ServerThread(create_app(**options)).start()
        servers.append(server)
        return Realm(server.url, server.app)

    yield start
    for server in servers:
        server.stop()
