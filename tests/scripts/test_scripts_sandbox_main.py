"""``python -m sandbox``: the four stand-ins over HTTP, their URLs in a file, a clean stop.

Every stand-in must be there: a missing one fails this suite, naming it (see load_app).
"""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from sandbox.__main__ import STAND_INS, MissingStandIn, load_app, start_servers, stop_servers

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 20.0


def wait_for_file(path: Path, process: subprocess.Popen[str]) -> dict[str, Any]:
    deadline = time.monotonic() + START_TIMEOUT
    while not path.exists():
        if process.poll() is not None:
            pytest.fail(f"python -m sandbox exited {process.returncode}: {process.communicate()[1]}")
        assert time.monotonic() < deadline, "python -m sandbox wrote no URLs in time"
        time.sleep(0.05)
    return json.loads(path.read_text())


@pytest.fixture
def sandbox_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path, dict[str, Any]]]:
    state_file = tmp_path / "sandbox.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0", "--state-file", str(state_file)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield process, state_file, wait_for_file(state_file, process)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def test_every_stand_in_is_served_at_the_urls_it_writes(sandbox_process: Any) -> None:
    # Given python -m sandbox on free ports
    _, _, urls = sandbox_process

    # When each stand-in's control routes are asked for their stats
    # Then all four answer, at the URLs in the state file
    assert set(urls) == set(STAND_INS)
    for name, entry in urls.items():
        response = requests.get(f"{entry['base_url']}/_sandbox/stats", timeout=5)
        assert response.status_code == 200, name


def test_the_rental_api_url_reaches_the_rental_stand_in(sandbox_process: Any) -> None:
    # Given an account and an organisation seeded through the control routes
    _, _, urls = sandbox_process
    base, headers = urls["current_rms"]["base_url"], {"X-SUBDOMAIN": "acme", "X-AUTH-TOKEN": "acme-key-123"}
    requests.post(f"{base}/_sandbox/accounts", json={"subdomain": "acme", "api_key": "acme-key-123"}, timeout=5)
    seeded = requests.post(f"{base}/_sandbox/members", timeout=5, json={
        "subdomain": "acme", "member": {"name": "Acme Stage Hire", "membership_type": "Organisation"}})
    member_id = seeded.json()["member"]["id"]

    # When the member is read at the written api_url, as the service would
    response = requests.get(f"{urls['current_rms']['api_url']}/members/{member_id}", headers=headers, timeout=5)

    # Then it is there
    assert response.status_code == 200
    assert response.json()["member"]["name"] == "Acme Stage Hire"


def api_read(kind: str, api_url: str, issued: dict[str, Any]) -> requests.Response:
    """One authenticated read of each accounting API, at the written api_url."""
    auth = {"Authorization": f"Bearer {issued['access_token']}", "Accept": "application/json"}
    if kind == "xero":
        return requests.get(f"{api_url}/Contacts", headers={**auth, "xero-tenant-id": issued["tenant"]}, timeout=5)
    if kind == "quickbooks":
        return requests.get(f"{api_url}/company/{issued['tenant']}/query", headers=auth, timeout=5,
                            params={"query": "select * from Customer"})
    return requests.get(f"{api_url}/contacts", headers=auth, timeout=5)


@pytest.mark.parametrize("kind", ["xero", "quickbooks", "sage"])
def test_accounting_tokens_work_at_the_written_api_url(sandbox_process: Any, kind: str) -> None:
    # Given tokens from an accounting stand-in's control route
    _, _, urls = sandbox_process
    issued = requests.post(f"{urls[kind]['base_url']}/_sandbox/tokens", json={}, timeout=5).json()

    # When its API is called at the written api_url with them
    response = api_read(kind, urls[kind]["api_url"], issued)

    # Then it answers as an authorised read; the token and authorize URLs lie on the same server
    assert response.status_code == 200, response.text
    for key in ("token_url", "authorize_url"):
        assert urls[kind][key].startswith(urls[kind]["base_url"] + "/")


def test_sigterm_stops_it_and_removes_the_url_file(sandbox_process: Any) -> None:
    # Given a running sandbox
    process, state_file, urls = sandbox_process

    # When it gets SIGTERM (Ctrl-C in make run, or a process manager)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=15)

    # Then it exits cleanly, its ports are closed and its URL file is gone
    assert process.returncode == 0
    assert not state_file.exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{urls['xero']['base_url']}/_sandbox/stats", timeout=2)


def consecutive_free_ports(count: int) -> int:
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = probe.getsockname()[1]
        if first + count > 65535:
            continue
        try:
            for port in range(first, first + count):
                with socket.socket() as other:
                    other.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    pytest.fail("no run of free consecutive ports found")


def test_a_given_port_starts_the_stand_ins_on_consecutive_ports() -> None:
    # Given a first port with three free ports after it
    first = consecutive_free_ports(len(STAND_INS))

    # When the servers start from it
    servers = start_servers("127.0.0.1", first)
    try:
        # Then they take it and the ports after it, in the documented order
        assert [server.port for server in servers.values()] == list(range(first, first + len(STAND_INS)))
        assert list(servers) == ["current_rms", "xero", "quickbooks", "sage"]
    finally:
        stop_servers(servers)


def test_a_missing_stand_in_is_named() -> None:
    # Given a stand-in module that does not exist
    # When it is loaded
    # Then the error names it instead of a bare ImportError
    with pytest.raises(MissingStandIn, match="the freshbooks stand-in"):
        load_app("freshbooks")
