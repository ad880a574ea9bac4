"""scripts/demo.py against the real web app and the sandbox: make run's demo, first and second run.

The sandbox keeps its state in memory, so a second ``make run`` meets an empty one: the demo
must then refresh its integrations (new keys, tokens, URLs, webhooks), never duplicate them.
"""
from __future__ import annotations

import json
import socket
import stat
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from core.runtime import Runtime
from core.settings import Settings
from sandbox.__main__ import start_servers, stop_servers, urls_for
from sandbox.runner import ServerThread
from scripts import demo
from scripts.demo_payloads import sample_member, webhook_body
from scripts.dev import run_migrations
from scripts.dev_env import SANDBOX_CLIENT, build_env
from scripts.local_secrets import load_or_create

#: A Redis database of this suite's own (the app needs one to answer webhooks).
REDIS_DB = 11


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_sandbox() -> tuple[dict[str, ServerThread], dict[str, dict[str, str]]]:
    servers = start_servers("127.0.0.1", 0)
    return servers, {name: urls_for(name, server.url) for name, server in servers.items()}


@pytest.fixture
def service(tmp_path: Path, redis_url: str) -> Iterator[tuple[demo.AdminApi, dict[str, str]]]:
    """The web app as make run configures it (SQLite under var/, migrated), over real HTTP."""
    port = free_port()
    var = tmp_path / "var"
    base = {"PATH": "/usr/bin:/bin", "PORT": str(port), "REDIS_URL": redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"}
    env = build_env(base, var_dir=var, secrets=load_or_create(var / "secrets.env"), bin_dir=Path("/nonexistent"))
    run_migrations(env)
    from webhooks import create_app

    runtime = Runtime.from_settings(Settings.from_env(env))
    runtime.redis.flushdb()
    with ServerThread(create_app(rt=runtime), port=port):
        yield demo.AdminApi(f"http://127.0.0.1:{port}", env["ADMIN_TOKEN"]), env
    runtime.redis.flushdb()
    runtime.close()


def integrations(api: demo.AdminApi) -> list[dict[str, Any]]:
    return api.call("GET", "/api/integrations")[1]["integrations"]


def post_sample_webhook(state: dict[str, Any], kind: str, action_id: int) -> requests.Response:
    member = sample_member()
    body = webhook_body(member["id"], action_id, member["name"])
    return requests.post(state["integrations"][kind]["webhook_url"], json=body, timeout=10)


def test_first_run_creates_one_working_demo_integration_per_system(service: Any, tmp_path: Path) -> None:
    api, _ = service
    servers, sandbox = start_sandbox()
    state_path = tmp_path / "var" / "demo.json"
    try:
        # When the demo is set up for the first time
        state = demo.set_up_demo(api, sandbox, state_path, SANDBOX_CLIENT)

        # Then there is one integration per accounting system, with its webhooks registered
        listed = {entry["id"]: entry for entry in integrations(api)}
        assert sorted(state["integrations"]) == ["quickbooks", "sage", "xero"]
        for entry in state["integrations"].values():
            assert listed[entry["id"]]["status"] == "active"
        # and the webhook URLs, secrets in them, are kept privately
        assert stat.S_IMODE(state_path.stat().st_mode) == 0o600
        assert json.loads(state_path.read_text()) == state
        # and the sample webhook make run prints is accepted
        answer = post_sample_webhook(state, "xero", 910001)
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "queued"
    finally:
        stop_servers(servers)


def test_second_run_refreshes_the_integrations_instead_of_duplicating_them(service: Any, tmp_path: Path) -> None:
    api, _ = service
    state_path = tmp_path / "var" / "demo.json"
    servers, sandbox = start_sandbox()
    first = demo.set_up_demo(api, sandbox, state_path, SANDBOX_CLIENT)
    stop_servers(servers)

    # Given a new, empty sandbox (a second make run)
    servers, sandbox = start_sandbox()
    try:
        # When the demo is set up again
        second = demo.set_up_demo(api, sandbox, state_path, SANDBOX_CLIENT)

        # Then the same three integrations remain, none added
        assert {k: v["id"] for k, v in second["integrations"].items()} == \
               {k: v["id"] for k, v in first["integrations"].items()}
        assert len(integrations(api)) == 3
        # and their webhooks are registered in the new rental stand-in, whose URL they now use
        rental = sandbox["current_rms"]
        listed = requests.get(f"{rental['api_url']}/webhooks", timeout=5, headers={
            "X-SUBDOMAIN": second["rental"]["subdomain"], "X-AUTH-TOKEN": second["rental"]["api_key"]})
        assert listed.status_code == 200
        assert len(listed.json()["webhooks"]) == 6
        # and each integration reaches its new accounting stand-in with the new tokens
        for kind, entry in second["integrations"].items():
            _, found = api.call("GET", f"/api/integrations/{entry['id']}/contacts?q=Festival")
            assert found["contacts"] == [], kind
        # and the webhook URL kept in var/demo.json is accepted
        assert post_sample_webhook(second, "sage", 910002).status_code == 202
    finally:
        stop_servers(servers)


def test_a_deleted_demo_integration_is_created_again(service: Any, tmp_path: Path) -> None:
    api, _ = service
    state_path = tmp_path / "var" / "demo.json"
    servers, sandbox = start_sandbox()
    try:
        first = demo.set_up_demo(api, sandbox, state_path, SANDBOX_CLIENT)
        # Given the operator deleted the QuickBooks demo integration
        api.call("DELETE", f"/api/integrations/{first['integrations']['quickbooks']['id']}", expect=(204,))

        # When the demo is set up again
        second = demo.set_up_demo(api, sandbox, state_path, SANDBOX_CLIENT)

        # Then QuickBooks has a new one and the others are kept
        assert second["integrations"]["quickbooks"]["id"] != first["integrations"]["quickbooks"]["id"]
        assert second["integrations"]["xero"]["id"] == first["integrations"]["xero"]["id"]
        assert len(integrations(api)) == 3
    finally:
        stop_servers(servers)
