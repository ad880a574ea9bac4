"""scripts/dev_env.py and the Procfile: what make run hands its processes."""
from __future__ import annotations

from pathlib import Path

import pytest
from honcho.environ import parse_procfile

from core.settings import Settings
from sandbox.__main__ import urls_for
from scripts.dev import demo_wanted, main
from scripts.dev_env import build_env, service_url

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"ADMIN_TOKEN": "a-generated-admin-token-0123456789",
           "ENCRYPTION_KEY": "7sBnm4T6y-2XNPh6vVJk5SbN4OYb6JvDGY3mWm2R3uY="}
BIN = Path("/opt/project/.venv/bin")


def sandbox_urls() -> dict[str, dict[str, str]]:
    return {name: urls_for(name, f"http://127.0.0.1:{8100 + n}")
            for n, name in enumerate(["current_rms", "xero", "quickbooks", "sage"])}


def test_a_bare_environment_gets_every_local_default(tmp_path: Path) -> None:
    # Given an environment that sets nothing of the service's
    # When make run builds its processes' environment
    env = build_env({"PATH": "/usr/bin"}, var_dir=tmp_path, secrets=SECRETS, bin_dir=BIN)

    # Then the service can start from it: SQLite under var/, local Redis, the generated secrets
    settings = Settings.from_env(env)
    assert settings.database_url == f"sqlite:///{tmp_path}/app.db"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.admin_token == SECRETS["ADMIN_TOKEN"]
    assert settings.public_url == "http://127.0.0.1:8000"
    assert env["WEB_HOST"] == "127.0.0.1"
    assert env["PATH"] == f"{BIN}:/usr/bin"


def test_what_the_caller_set_wins(tmp_path: Path) -> None:
    # Given an operator's own database, port and token
    given = {"PATH": "/usr/bin", "DATABASE_URL": "postgresql+psycopg://app@db/app", "PORT": "9000",
             "ADMIN_TOKEN": "operator-token-abcdefghijkl", "XERO_API_URL": "https://api.xero.com/api.xro/2.0"}

    # When the environment is built, with the sandbox running
    env = build_env(given, var_dir=tmp_path, secrets=SECRETS, bin_dir=BIN, sandbox=sandbox_urls())

    # Then none of theirs is replaced, and PUBLIC_URL follows their port
    assert env["DATABASE_URL"] == given["DATABASE_URL"]
    assert env["ADMIN_TOKEN"] == given["ADMIN_TOKEN"]
    assert env["XERO_API_URL"] == given["XERO_API_URL"]
    assert env["PUBLIC_URL"] == "http://127.0.0.1:9000"
    assert service_url(env) == "http://127.0.0.1:9000"


def test_with_the_sandbox_every_system_url_points_at_it(tmp_path: Path) -> None:
    # When the environment is built with the sandbox's URLs
    env = build_env({"PATH": "/usr/bin"}, var_dir=tmp_path, secrets=SECRETS, bin_dir=BIN, sandbox=sandbox_urls())

    # Then the settings reach only the stand-ins, and the OAuth app credentials are set
    settings = Settings.from_env(env)
    assert settings.current_rms_api_url == "http://127.0.0.1:8100/api/v1"
    assert settings.providers["xero"].token_url == "http://127.0.0.1:8101/connect/token"
    assert settings.providers["quickbooks"].api_url == "http://127.0.0.1:8102/v3"
    assert settings.providers["sage"].authorize_url == "http://127.0.0.1:8103/oauth2/auth/central"
    for app in settings.providers.values():
        assert app.client_id and app.client_secret
    # and the web links open the stand-ins' own pages (issue 16)
    assert settings.current_rms_web_url == "http://127.0.0.1:8100"
    assert {kind: app.web_url for kind, app in settings.providers.items()} == {
        "xero": "http://127.0.0.1:8101", "quickbooks": "http://127.0.0.1:8102", "sage": "http://127.0.0.1:8103"}


def test_without_the_sandbox_web_links_are_the_real_web_apps(tmp_path: Path) -> None:
    settings = Settings.from_env(build_env({"PATH": "/usr/bin"}, var_dir=tmp_path, secrets=SECRETS, bin_dir=BIN))
    assert settings.current_rms_web_url == "https://{subdomain}.current-rms.com"
    assert all(app.web_url is None for app in settings.providers.values())


def test_the_demo_runs_first_and_while_demo_integrations_exist(tmp_path: Path) -> None:
    state = tmp_path / "demo.json"
    assert demo_wanted(state, {})
    assert not demo_wanted(state, {"DEMO": "0"})
    state.write_text('{"integrations": {"xero": {"id": "x"}}}')
    assert demo_wanted(state, {})
    state.write_text('{"integrations": {}}')
    assert not demo_wanted(state, {})


def test_procfile_names_the_processes_of_the_contract() -> None:
    # Given the Procfile
    processes = parse_procfile((ROOT / "Procfile").read_text()).processes

    # Then release migrates, web is gunicorn on this config, the worker and scheduler take
    # their tuning from the environment
    assert processes["release"] == "alembic upgrade head"
    assert processes["web"] == "gunicorn webhooks.wsgi:app -c gunicorn.conf.py"
    assert "--processes ${WORKER_PROCESSES:-1} --threads ${WORKER_THREADS:-8}" in processes["worker"]
    assert "dramatiq workers.actors --processes" in processes["worker"]
    assert processes["scheduler"] == "python -m workers.scheduler"


def test_the_banner_shows_the_address_the_token_and_a_webhook_curl_for_the_seeded_member(tmp_path: Path) -> None:
    # Given a local run's environment and a demo whose Xero webhook URL was made on another port
    import json
    import shlex

    from scripts.dev import banner

    env = build_env({"PATH": "/usr/bin", "PORT": "8123"}, var_dir=tmp_path, secrets=SECRETS, bin_dir=BIN)
    state = {"rental": {"subdomain": "demo", "member_id": 205100, "member_name": "The Festival Of Testing"},
             "integrations": {kind: {"id": f"id-{kind}", "webhook_url":
                                     f"http://127.0.0.1:8000/webhooks/current-rms/id-{kind}?token=t-{kind}"}
                              for kind in ("xero", "quickbooks", "sage")}}

    # When the banner is printed
    text = banner(env, state, sandbox_urls())

    # Then it gives the service address, the admin token, and a curl posting an update of the
    # seeded organisation to the Xero integration at today's address
    assert "http://127.0.0.1:8123" in text
    assert SECRETS["ADMIN_TOKEN"] in text
    webhook_line = next(line for line in text.splitlines() if "/webhooks/current-rms/id-xero" in line)
    words = shlex.split(webhook_line)
    assert words[4] == "http://127.0.0.1:8123/webhooks/current-rms/id-xero?token=t-xero"
    action = json.loads(words[words.index("-d") + 1])["action"]
    assert (action["subject_id"], action["action_type"]) == (205100, "update")
    assert f"Authorization: Bearer {SECRETS['ADMIN_TOKEN']}" in text


def test_an_unknown_command_starts_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a var/ of its own
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))

    # When scripts.dev gets a command it does not know
    status = main(["bogus"])

    # Then it says how to call it and starts nothing (not even var/)
    assert status == 2
    assert "usage: python -m scripts.dev [run|migrate]" in capsys.readouterr().err
    assert not (tmp_path / "var").exists()
