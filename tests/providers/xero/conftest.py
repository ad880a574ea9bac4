"""Fixtures for the Xero provider: the stand-in over real HTTP and a provider bound to one tenant."""
from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest
import requests

from providers.base import ProviderContext
from providers.xero import XeroProvider
from sandbox.runner import ServerThread
from sandbox.xero import create_app


class SandboxTokens:
    """A trivial TokenSource: tokens straight from ``POST /_sandbox/tokens``."""

    def __init__(self, url: str, tenant: str | None = None) -> None:
        self.url = url
        self.refreshes = 0
        answer = requests.post(f"{url}/_sandbox/tokens", json={"tenant": tenant} if tenant else {}, timeout=5)
        self.tenant = answer.json()["tenant"]
        self.token = answer.json()["access_token"]

    def access_token(self) -> str:
        return self.token

    def refresh_after_rejection(self, rejected_token: str) -> str:
        self.refreshes += 1
        answer = requests.post(f"{self.url}/_sandbox/tokens", json={"tenant": self.tenant}, timeout=5)
        self.token = answer.json()["access_token"]
        return self.token


class XeroSandbox:
    """One tenant of the stand-in: its provider, its call log and its stored contacts."""

    def __init__(self, server: ServerThread) -> None:
        self.server = server
        self.url = server.url
        self.tokens = SandboxTokens(server.url)
        self.tenant = self.tokens.tenant
        self.saved: list[dict[str, Any]] = []

    def provider(self, config: dict[str, Any] | None = None) -> XeroProvider:
        context = ProviderContext(
            integration_id="int-xero", api_url=f"{self.url}/api.xro/2.0", tokens=self.tokens,
            tenant=self.tenant, config=dict(config or {}), save_config=self.saved.append,
            timeout=(2.0, 5.0),
        )
        return XeroProvider(context)

    def control(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, f"{self.url}/_sandbox/{path}", timeout=10, **kwargs)

    def api_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """A direct API call with this tenant's token (to check the stand-in's answers)."""
        headers = {"Authorization": f"Bearer {self.tokens.token}", "xero-tenant-id": self.tenant}
        answer = requests.request(method, f"{self.url}/api.xro/2.0{path}", headers=headers, timeout=5, **kwargs)
        answer.raise_for_status()
        return answer.json()

    def stored(self) -> list[dict[str, Any]]:
        return self.control("GET", "contacts", params={"tenant": self.tenant}).json()["Contacts"]

    def seed(self, **contact: Any) -> dict[str, Any]:
        return self.control("POST", "contacts", json={"tenant": self.tenant, "contact": contact}).json()

    def short_code(self) -> str:
        return self.control("GET", "organisation", params={"tenant": self.tenant}).json()["ShortCode"]

    def calls(self, method: str | None = None, path_end: str = "") -> list[dict[str, Any]]:
        """This tenant's API calls, oldest first."""
        every = self.control("GET", "calls").json()["calls"]
        return [
            c for c in every
            if {k.lower(): v for k, v in c["headers"].items()}.get("xero-tenant-id") == self.tenant
            and (method is None or c["method"] == method) and c["path"].endswith(path_end)
        ]


@pytest.fixture(scope="module")
def xero_server() -> Iterator[ServerThread]:
    with ServerThread(create_app()) as server:
        yield server


@pytest.fixture
def sandbox(xero_server: ServerThread) -> XeroSandbox:
    """A new tenant on the shared stand-in (tenants do not see each other)."""
    return XeroSandbox(xero_server)


@pytest.fixture
def serve_sandbox() -> Iterator[Callable[..., XeroSandbox]]:
    """A stand-in of its own with the given ``create_app`` options."""
    servers: list[ServerThread] = []

    def start(**options: Any) -> XeroSandbox:
        servers.append(ServerThread(create_app(**options)).start())
        return XeroSandbox(servers[-1])

    yield start
    for server in servers:
        server.stop()
