"""gunicorn.conf.py: settings from the environment, and logs that never show a token (§8)."""
from __future__ import annotations

import json
import os
import runpy
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "gunicorn.conf.py"
SECRETS = ("whk-SECRET-1", "oauth-SECRET-2", "code-SECRET-3", "whk-SECRET-4")

#: A WSGI app whose failure message carries the request's URI, as a careless one might.
TEST_APP = '''
def app(environ, start_response):
    if environ["PATH_INFO"] == "/boom":
        raise RuntimeError("could not handle " + environ["RAW_URI"])
    # The fields the webhook adds to its access line (webhooks.receiver.ACCESS_LOG_FIELDS).
    environ["crms.access_log_fields"] = {"event_id": "event-1", "event_status": "queued"}
    start_response("202 Accepted", [("Content-Type", "application/json")])
    return [b'{"status": "queued"}']
'''


def load_config(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    for name in ("PORT", "WEB_HOST", "WEB_CONCURRENCY", "WEB_THREADS", "WEB_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONFIG))


def test_settings_default_as_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no tuning variables
    # When the config is read
    config = load_config(monkeypatch)

    # Then the web process serves PORT 8000 on every interface, 2 workers of 4 threads
    assert config["bind"] == "0.0.0.0:8000"
    assert (config["workers"], config["threads"]) == (2, 4)


def test_settings_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(monkeypatch, PORT="9123", WEB_HOST="127.0.0.1", WEB_CONCURRENCY="3", WEB_THREADS="16")
    assert config["bind"] == "127.0.0.1:9123"
    assert (config["workers"], config["threads"]) == (3, 16)


@pytest.mark.parametrize("name,value", [("WEB_THREADS", "many"), ("PORT", "-1"), ("WEB_CONCURRENCY", "0")])
def test_a_malformed_value_stops_start_up_naming_the_variable(monkeypatch: pytest.MonkeyPatch, name: str,
                                                              value: str) -> None:
    with pytest.raises(SystemExit, match=name):
        load_config(monkeypatch, **{name: value})


@pytest.mark.parametrize("line,expected", [
    ("POST /webhooks/current-rms/42?token=abc HTTP/1.1", "POST /webhooks/current-rms/42?token=[redacted] HTTP/1.1"),
    ("/connect/callback?code=c0de&state=st4te&realmId=9", "/connect/callback?code=[redacted]&state=[redacted]&realmId=9"),
    ("refresh_token=r1&access_token=a1&client_secret=s1", "refresh_token=[redacted]&access_token=[redacted]&client_secret=[redacted]"),
    ("/api/events?zipcode=1010&status=failed", "/api/events?zipcode=1010&status=failed"),
])
def test_redact_hides_secret_parameters_only(monkeypatch: pytest.MonkeyPatch, line: str, expected: str) -> None:
    redact = load_config(monkeypatch)["redact"]
    assert redact(line) == expected


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited: {process.communicate()[1]}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    pytest.fail("gunicorn did not start")


def serve_and_capture(tmp_path: Path, paths: list[str]) -> tuple[str, str]:
    """Run gunicorn with this config, request ``paths``, stop it; its stdout and stderr."""
    (tmp_path / "redaction_test_app.py").write_text(TEST_APP)
    port = free_port()
    env = {**os.environ, "PORT": str(port), "WEB_HOST": "127.0.0.1", "WEB_CONCURRENCY": "1", "WEB_THREADS": "2"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(CONFIG), "--chdir", str(tmp_path), "redaction_test_app:app"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + "/ready", process)
        for path in paths:
            requests.post(base + path, json={"action": {"id": 1}}, timeout=5)
    finally:
        process.terminate()
        out, err = process.communicate(timeout=30)
    return out, err


def test_gunicorn_logs_never_show_a_token(tmp_path: Path) -> None:
    # Given gunicorn serving an app through this config
    # When a webhook, an OAuth-like callback and a failing request carry secrets in their query
    out, err = serve_and_capture(tmp_path, [
        f"/webhooks/current-rms/7?token={SECRETS[0]}",
        f"/connect/callback?access_token={SECRETS[1]}&code={SECRETS[2]}",
        f"/boom?token={SECRETS[3]}",
    ])

    # Then neither log holds any of them, and both are JSON lines
    for secret in SECRETS:
        assert secret not in out and secret not in err
    access = [json.loads(line) for line in out.splitlines() if line.strip()]
    errors = [json.loads(line) for line in err.splitlines() if line.strip()]
    webhook = next(entry for entry in access if entry["path"] == "/webhooks/current-rms/7")
    assert webhook["query"] == "token=[redacted]"
    assert webhook["status"] == 202 and webhook["method"] == "POST"
    assert (webhook["event_id"], webhook["event_status"]) == ("event-1", "queued")  # one line per delivery
    crashed = next(entry for entry in access if entry["status"] == 500)
    assert (crashed["path"], crashed["query"]) == ("/boom", "token=[redacted]")
    failure = next(entry for entry in errors if "Error handling request" in entry["event"])
    assert "token=[redacted]" in failure["event"]
    assert "could not handle /boom?token=[redacted]" in failure["exception"]
