"""Fixtures for the Xero stand-in: the app served over real HTTP and a tenant-bound client."""
from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest
import requests

from sandbox.runner import ServerThread
from sandbox.xero import create_app


class XeroApi:
    """A ``requests`` session on the stand-in, holding one tenant's token."""

    def __init__(self, url: str, tenant: str | None = None) -> None:
        self.url = url
        self.tokens = self.control("POST", "tokens", json={"tenant": tenant} if tenant else {}).json()
        self.tenant = self.tokens["tenant"]
        self.session = requests.Session()
        self.session.headers.update({
            "Authorization": f"Bearer {self.tokens['access_token']}", "xero-tenant-id": self.tenant,
        })

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, f"{self.url}/api.xro/2.0{path}", timeout=5, **kwargs)

    def control(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, f"{self.url}/_sandbox/{path}", timeout=5, **kwargs)

    def put(self, *contacts: dict[str, Any], **params: str) -> requests.Response:
        return self("PUT", "/Contacts", json={"Contacts": list(contacts)}, params=params)

    def stored(self) -> list[dict[str, Any]]:
        return self.control("GET", "contacts", params={"tenant": self.tenant}).json()["Contacts"]


@pytest.fixture
def serve() -> Iterator[Callable[..., ServerThread]]:
    """Start a stand-in with the given ``create_app`` options; stopped after the test."""
    servers: list[ServerThread] = []

    def start(**options: Any) -> ServerThread:
        server = ServerThread(create_app(**options)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def xero_server() -> Iterator[ServerThread]:
    """One stand-in per module with default limits; tenants keep the tests apart."""
    with ServerThread(create_app()) as server:
        yield server


@pytest.fixture
def xero(xero_server: ServerThread) -> XeroApi:
    """A client of a new tenant (its own contacts and limits)."""
    return XeroApi(xero_server.url)


@pytest.fixture
def api_for() -> Callable[[ServerThread], XeroApi]:
    """A client with a new tenant's token on the given server."""
    return lambda server: XeroApi(server.url)
