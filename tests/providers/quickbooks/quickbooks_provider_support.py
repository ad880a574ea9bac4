"""A TokenSource for provider tests: tokens from the stand-in, refreshed at its token endpoint."""
from __future__ import annotations

from typing import Any

import requests

from core.errors import CredentialsRefused
from providers.base import ProviderContext
from providers.quickbooks import QuickBooksProvider

TIMEOUT = 5
CLIENT = ("client-id", "client-secret")


class SandboxTokens:
    """What ``providers.oauth`` does, reduced to one process: take, and refresh on rejection."""

    def __init__(self, url: str, tenant: str | None = None) -> None:
        self.url = url
        answer = requests.post(f"{url}/_sandbox/tokens", json={"tenant": tenant}, timeout=TIMEOUT).json()
        self.tenant: str = answer["tenant"]
        self.access = answer["access_token"]
        self.refresh = answer["refresh_token"]
        self.refreshes = 0

    def access_token(self) -> str:
        return self.access

    def refresh_after_rejection(self, rejected_token: str) -> str:
        if rejected_token != self.access:
            return self.access
        answer = requests.post(
            f"{self.url}/oauth2/v1/tokens/bearer", auth=CLIENT, timeout=TIMEOUT,
            data={"grant_type": "refresh_token", "refresh_token": self.refresh},
        )
        if answer.status_code != 200:
            raise CredentialsRefused("refresh refused", system="quickbooks", status=answer.status_code)
        self.access, self.refresh = answer.json()["access_token"], answer.json()["refresh_token"]
        self.refreshes += 1
        return self.access


class Realm:
    """A fresh company on a served stand-in, and a provider bound to it."""

    def __init__(self, url: str, app: Any) -> None:
        self.url = url
        self.app = app
        self.tokens = SandboxTokens(url)
        self.tenant = self.tokens.tenant
        self.provider = QuickBooksProvider(
            ProviderContext(integration_id="int-1", api_url=f"{url}/v3", tokens=self.tokens,
                            tenant=self.tenant, timeout=(2.0, 5.0))
        )

    def seed(self, entity: str = "Customer", **fields: Any) -> dict[str, Any]:
        answer = requests.post(f"{self.url}/_sandbox/entities",
                               json={"tenant": self.tenant, "type": entity, **fields}, timeout=TIMEOUT)
        assert answer.status_code == 201, answer.text
        return answer.json()[entity]

    def customers(self) -> dict[str, dict[str, Any]]:
        answer = requests.get(f"{self.url}/_sandbox/contacts", params={"tenant": self.tenant}, timeout=TIMEOUT)
        return {c["Id"]: c for c in answer.json()["Customer"]}

    def calls(self) -> list[dict[str, Any]]:
        """This realm's API calls, in order."""
        every = requests.get(f"{self.url}/_sandbox/calls", timeout=TIMEOUT).json()["calls"]
        return [c for c in every if f"/company/{self.tenant}/" in c["path"]]

    def control(self, method: str, route: str, **body: Any) -> requests.Response:
        return requests.request(method, f"{self.url}/_sandbox/{route}", json={"tenant": self.tenant, **body},
                                timeout=TIMEOUT)

    def fault(self, **fault: Any) -> None:
        """Inject a ``sandbox.control`` fault (path regex, method, mode, status, body, times)."""
        requests.post(f"{self.url}/_sandbox/faults", json=fault, timeout=TIMEOUT).raise_for_status()
