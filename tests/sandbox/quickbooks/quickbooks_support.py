"""Helpers shared by the QuickBooks stand-in and provider tests: a realm spoken to over HTTP."""
from __future__ import annotations

from typing import Any

import requests

from sandbox.runner import ServerThread

TIMEOUT = 5


class Company:
    """One realm of a served stand-in, spoken to over real HTTP."""

    def __init__(self, server: ServerThread, tenant: str | None = None) -> None:
        self.url = server.url
        self.app = server.app
        tokens = requests.post(f"{self.url}/_sandbox/tokens", json={"tenant": tenant}, timeout=TIMEOUT).json()
        self.realm = tokens["tenant"]
        self.access_token = tokens["access_token"]
        self.refresh_token = tokens["refresh_token"]

    @property
    def api(self) -> str:
        return f"{self.url}/v3/company/{self.realm}"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.access_token}", "Accept": "application/json"}
        headers.update(kwargs.pop("headers", {}))
        return requests.request(method, f"{self.api}/{path}", headers=headers, timeout=TIMEOUT, **kwargs)

    def create(self, body: dict[str, Any], **params: str) -> requests.Response:
        return self.call("POST", "customer", json=body, params=params)

    def query(self, text: str) -> requests.Response:
        return self.call("GET", "query", params={"query": text, "minorversion": "75"})

    def customers(self) -> list[dict[str, Any]]:
        """Every customer of this realm, inactive ones included (``GET /_sandbox/contacts``)."""
        answer = requests.get(f"{self.url}/_sandbox/contacts", params={"tenant": self.realm}, timeout=TIMEOUT)
        return answer.json()["Customer"]

    def seed(self, entity: str, **fields: Any) -> dict[str, Any]:
        answer = requests.post(
            f"{self.url}/_sandbox/entities", json={"tenant": self.realm, "type": entity, **fields},
            timeout=TIMEOUT,
        )
        assert answer.status_code == 201, answer.text
        return answer.json()[entity]


def fault_of(response: requests.Response) -> dict[str, Any]:
    """The first error of a fault body, whichever casing it uses."""
    body = response.json()
    fault = body.get("Fault") or body["fault"]
    return (fault.get("Error") or fault["error"])[0]
