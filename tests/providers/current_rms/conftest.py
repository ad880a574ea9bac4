"""Fixtures for the Current RMS client: the stand-in over real HTTP, reset for each test."""
from __future__ import annotations

import json
from typing import Any, Callable, Iterator

import pytest
import requests

from providers.current_rms import CurrentRMS
from sandbox.current_rms import create_app
from sandbox.runner import ServerThread
from tests.support import SAMPLES

SUBDOMAIN = "acme"
API_KEY = "acme-key-1"
SAMPLE = str(SAMPLES / "member_organisation.json")


@pytest.fixture(scope="module")
def rms_server() -> Iterator[ServerThread]:
    with ServerThread(create_app(deliver_webhooks=False)) as server:
        yield server


@pytest.fixture
def rms_url(rms_server: ServerThread) -> str:
    """The stand-in's base, reset, with the account "acme"."""
    requests.post(f"{rms_server.url}/_sandbox/reset", timeout=5).raise_for_status()
    requests.post(f"{rms_server.url}/_sandbox/accounts", timeout=5,
                  json={"subdomain": SUBDOMAIN, "api_key": API_KEY}).raise_for_status()
    return rms_server.url


@pytest.fixture
def client(rms_url: str) -> CurrentRMS:
    return CurrentRMS(api_url=f"{rms_url}/api/v1", subdomain=SUBDOMAIN, api_key=API_KEY,
                      timeout=(1.0, 5.0))


@pytest.fixture
def control(rms_url: str) -> Callable[..., requests.Response]:
    """Call a ``/_sandbox/`` route of the stand-in."""
    return lambda method, path, **kw: requests.request(
        method, f"{rms_url}/_sandbox/{path}", timeout=30, **kw)


@pytest.fixture
def seed(control: Callable[..., requests.Response]) -> Callable[[dict[str, Any]], dict]:
    def _seed(member: dict[str, Any]) -> dict[str, Any]:
        response = control("POST", "members", json={"subdomain": SUBDOMAIN, "member": member})
        assert response.status_code == 201, response.text
        return response.json()["member"]

    return _seed


@pytest.fixture
def calls(control: Callable[..., requests.Response]) -> Callable[[], list[dict[str, Any]]]:
    """The API calls the stand-in received so far (method, path, query, json)."""
    return lambda: control("GET", "calls").json()["calls"]


@pytest.fixture
def sample_member() -> dict[str, Any]:
    with open(SAMPLE) as handle:
        return json.load(handle)["member"]
