"""SageProvider against the Sage stand-in over real HTTP.

One stand-in per module (stopping one takes half a second), reset before every test.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest
import requests

from core.errors import CredentialsRefused
from providers.base import ProviderContext
from providers.sage import SageProvider
from sandbox.runner import ServerThread
from sandbox.sage import create_app


class SandboxTokens:
    """A trivial TokenSource: tokens from ``POST /_sandbox/tokens``, refreshed at ``/token``."""

    def __init__(self, base_url: str, grant: dict[str, Any]) -> None:
        self.base_url = base_url
        self.access, self.refresh = grant["access_token"], grant["refresh_token"]
        self.refreshes = 0

    def access_token(self) -> str:
        return self.access

    def refresh_after_rejection(self, rejected_token: str) -> str:
        answer = requests.post(f"{self.base_url}/token", timeout=5, data={
            "grant_type": "refresh_token", "refresh_token": self.refresh,
            "client_id": "app", "client_secret": "secret",
        })
        if answer.status_code != 200:
            raise CredentialsRefused("refresh refused", system="sage", status=answer.status_code)
        self.access, self.refresh = answer.json()["access_token"], answer.json()["refresh_token"]
        self.refreshes += 1
        return self.access


class Stand:
    """The stand-in seen from a test: its URL, its control routes, its call log."""

    def __init__(self, server: ServerThread) -> None:
        self.url = server.url
        self.app = server.app

    def grant(self, tenant: str | None = None) -> dict[str, Any]:
        body = {"tenant": tenant} if tenant else {}
        return requests.post(f"{self.url}/_sandbox/tokens", json=body, timeout=5).json()

    def seed(self, tenant: str, contact: dict[str, Any], *, active: bool = True) -> dict:
        answer = requests.post(f"{self.url}/_sandbox/contacts", timeout=5, json={
            "tenant": tenant, "contact": contact, "is_active": active})
        assert answer.status_code == 201, answer.text
        return answer.json()

    def contacts(self, tenant: str) -> list[dict[str, Any]]:
        return requests.get(f"{self.url}/_sandbox/contacts", params={"tenant": tenant},
                            timeout=5).json()["contacts"]

    def calls(self) -> list[dict[str, Any]]:
        return requests.get(f"{self.url}/_sandbox/calls", timeout=5).json()["calls"]


def make_provider(
    url: str, grant: dict[str, Any], *, tenant: str | None = None,
    config: dict[str, Any] | None = None, saved: list | None = None,
) -> SageProvider:
    context = ProviderContext(
        integration_id="int-sage", api_url=f"{url}/v3.1", tokens=SandboxTokens(url, grant),
        tenant=tenant, config=config if config is not None else {},
        save_config=(saved.append if saved is not None else lambda changes: None),
        timeout=(2.0, 5.0),
    )
    return SageProvider(context)


@pytest.fixture(scope="module")
def sage_server() -> Iterator[ServerThread]:
    with ServerThread(create_app(rate_limit=10000, window=60.0)) as server:
        yield server


@pytest.fixture
def stand(sage_server: ServerThread) -> Stand:
    requests.post(f"{sage_server.url}/_sandbox/reset", timeout=5).raise_for_status()
    return Stand(sage_server)


@pytest.fixture
def grant(stand: Stand) -> dict[str, Any]:
    return stand.grant()


@pytest.fixture
def provider(stand: Stand, grant: dict[str, Any]) -> SageProvider:
    return make_provider(stand.url, grant, tenant=grant["tenant"])


@pytest.fixture
def provider_factory(stand: Stand) -> Callable[..., SageProvider]:
    """``factory(grant, url=<another stand-in>, tenant=..., config=..., saved=[...])``."""
    return lambda grant, url=None, **kwargs: make_provider(url or stand.url, grant, **kwargs)
