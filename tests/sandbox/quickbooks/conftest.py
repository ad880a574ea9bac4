"""Fixtures for the QuickBooks stand-in's own tests: served stand-ins and one company."""
from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from sandbox.quickbooks import create_app
from sandbox.runner import ServerThread
from tests.sandbox.quickbooks.quickbooks_support import Company


@pytest.fixture
def serve() -> Iterator[Callable[..., ServerThread]]:
    """Start a stand-in built with the given ``create_app`` options."""
    servers: list[ServerThread] = []

    def start(**options: Any) -> ServerThread:
        server = ServerThread(create_app(**options)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def shared_server() -> Iterator[ServerThread]:
    """One stand-in with the real limits for a module's tests; each test gets its own realm."""
    with ServerThread(create_app()) as server:
        yield server


@pytest.fixture
def company(shared_server: ServerThread) -> Company:
    return Company(shared_server)
