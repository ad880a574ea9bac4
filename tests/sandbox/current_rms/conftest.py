"""Fixtures for the Current RMS stand-in: the app served over real HTTP, one account, and a
receiver that records the webhook deliveries it gets."""
from __future__ import annotations

import json
import threading
from typing import Any, Iterator

import pytest
import requests
from flask import Flask, request

from sandbox.current_rms import create_app
from sandbox.runner import ServerThread
from tests.support import SAMPLES

SUBDOMAIN = "acme"
API_KEY = "acme-key-1"
SAMPLE = str(SAMPLES / "member_organisation.json")


class Receiver:
    """A webhook target: records each POST and answers ``status``."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 200
        self.arrived = threading.Event()
        self.app = Flask("receiver")
        self.app.add_url_rule("/hook", "hook", self._hook, methods=["POST"])

    def _hook(self) -> Any:
        self.received.append({"headers": dict(request.headers),
                              "body": json.loads(request.get_data())})
        self.arrived.set()
        return {"ok": True}, self.status


class RentalApi:
    """A ``requests`` session on the stand-in with the account's headers set."""

    def __init__(self, url: str, *, subdomain: str = SUBDOMAIN, api_key: str = API_KEY) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers.update({"X-SUBDOMAIN": subdomain, "X-AUTH-TOKEN": api_key})

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, f"{self.url}/api/v1{path}", timeout=5, **kwargs)

    def control(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, f"{self.url}/_sandbox/{path}", timeout=30, **kwargs)


@pytest.fixture(scope="module")
def rms_server() -> Iterator[ServerThread]:
    """One stand-in per test module (starting and stopping a server costs about 0.5 s)."""
    with ServerThread(create_app(webhook_timeout=2.0)) as server:
        yield server


@pytest.fixture
def rms_app(rms_server: ServerThread) -> Flask:
    return rms_server.app


@pytest.fixture
def rms(rms_server: ServerThread) -> RentalApi:
    """The stand-in, reset, with the account "acme" (key ``API_KEY``)."""
    api = RentalApi(rms_server.url)
    rms_server.app.extensions["sandbox_deliverer"].wait_idle()
    assert api.control("POST", "reset").status_code == 204
    api.control("POST", "accounts", json={"subdomain": SUBDOMAIN, "api_key": API_KEY})
    return api


@pytest.fixture(scope="module")
def receiver_server() -> Iterator[tuple[Receiver, str]]:
    target = Receiver()
    with ServerThread(target.app) as server:
        yield target, f"{server.url}/hook"


@pytest.fixture
def receiver(receiver_server: tuple[Receiver, str]) -> tuple[Receiver, str]:
    """A webhook target (cleared for each test) and its URL."""
    target, url = receiver_server
    target.received.clear()
    target.status = 200
    return target, url


@pytest.fixture
def sample_member() -> dict[str, Any]:
    with open(SAMPLE) as handle:
        return json.load(handle)["member"]


@pytest.fixture
def seed(rms: RentalApi) -> Any:
    """Seed a member (no webhook) through the control route; returns it in read shape."""

    def _seed(member: dict[str, Any], subdomain: str = SUBDOMAIN) -> dict[str, Any]:
        response = rms.control("POST", "members", json={"subdomain": subdomain, "member": member})
        assert response.status_code == 201, response.text
        return response.json()["member"]

    return _seed


@pytest.fixture
def api_as(rms: RentalApi) -> Any:
    """A session on the same stand-in with other credentials."""
    return lambda subdomain, api_key: RentalApi(rms.url, subdomain=subdomain, api_key=api_key)
