"""``flask events list|show|replay``, ``flask integrations list``, ``flask keys rotate``."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from core.crypto import Vault
from core.store import events, integrations
from tests.conftest import ADMIN_TOKEN, TEST_REDIS_URL
from tests.support import RunningWorker, create_integration, wait_event
from tests.webhooks.ops_support import fix_account_number, make_event, refused_contact

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def cli(app: Any) -> Any:
    runner = app.test_cli_runner()
    return lambda *args, **kw: runner.invoke(args=list(args), catch_exceptions=False, **kw)


def last_line(result: Any) -> str:
    """The command's answer (a logger this process bound earlier may print JSON lines before it)."""
    return result.output.strip().splitlines()[-1]


@pytest.fixture
def integration(client: Any, admin: Any, sandbox: Any) -> dict[str, Any]:
    return create_integration(client, admin, sandbox, "xero")


def test_events_list_filters_like_the_api(cli: Any, rt: Any, integration: Any) -> None:
    # Given a failed and a succeeded event
    failed = make_event(rt, integration["id"], status="failed", organisation_id=7, received_at=T0,
                        reason="the account number is already used by another contact")
    done = make_event(rt, integration["id"], status="succeeded", organisation_id=8, received_at=T0 + timedelta(hours=1))

    # When listed with and without filters
    everything = cli("events", "list")
    only_failed = cli("events", "list", "--status", "failed", "--integration", integration["id"])
    since = cli("events", "list", "--since", "2026-03-01T12:30:00Z", "--json")

    # Then each shows what the filter selects, with the reason
    assert everything.exit_code == 0
    assert everything.output.index(done) < everything.output.index(failed)
    assert failed in only_failed.output and done not in only_failed.output
    assert "the account number is already used by another contact" in only_failed.output
    assert [e["id"] for e in json.loads(since.output)["events"]] == [done]


def test_events_list_pages_with_the_cursor(cli: Any, rt: Any, integration: Any) -> None:
    made = [make_event(rt, integration["id"], received_at=T0 + timedelta(minutes=m)) for m in range(3)]
    first = json.loads(cli("events", "list", "--limit", "2", "--json").output)
    second = json.loads(cli("events", "list", "--limit", "2", "--cursor", first["next_cursor"], "--json").output)
    assert [e["id"] for e in first["events"] + second["events"]] == made[::-1]
    assert second["next_cursor"] is None
    assert "more: --cursor" in cli("events", "list", "--limit", "2").output


@pytest.mark.parametrize("args, named", [
    (("--since", "yesterday"), "--since"), (("--organisation", "x1"), "--organisation-id"),
    (("--status", "done"), "--status"), (("--cursor", "zzz"), "--cursor"), (("--limit", "0"), "--limit"),
])
def test_events_list_refuses_bad_filters(app: Any, rt: Any, args: tuple[str, ...], named: str) -> None:
    result = app.test_cli_runner().invoke(args=["events", "list", *args])
    assert result.exit_code == 2
    assert named in result.output


def test_events_show_prints_reason_error_attempts_and_payload(cli: Any, rt: Any, integration: Any) -> None:
    event_id = make_event(rt, integration["id"], status="failed", organisation_id=42,
                          reason="the account number is already used by another contact",
                          error="xero: HTTP 400: The Account Number already exists", attempts=2)
    text = cli("events", "show", event_id).output
    assert "the account number is already used by another contact" in text
    assert "xero: HTTP 400: The Account Number already exists" in text
    assert "attempt 1: retrying" in text and "attempt 2: failed" in text
    assert '"subject_id": 42' in text
    as_json = json.loads(cli("events", "show", event_id, "--json").output)
    assert (as_json["id"], as_json["status"], len(as_json["attempt_history"])) == (event_id, "failed", 2)
    missing = cli("events", "show", "nope")
    assert missing.exit_code == 1 and "no event nope" in missing.output


def test_events_replay_one_and_not_twice(cli: Any, rt: Any, integration: Any) -> None:
    failed = make_event(rt, integration["id"], status="failed")
    processing = make_event(rt, integration["id"], status="processing")
    assert last_line(cli("events", "replay", failed)) == f"{failed} queued"
    assert last_line(cli("events", "replay", failed)) == f"{failed} queued"
    assert last_line(cli("events", "replay", processing)) == f"{processing} processing"
    assert rt.redis.llen("dramatiq:sync") == 1
    assert cli("events", "replay", "nope").exit_code == 1


def test_events_replay_all_failed_asks_first_with_the_count(app: Any, cli: Any, rt: Any, integration: Any, client: Any, admin: Any, sandbox: Any) -> None:
    # Given two failed events of one integration, one of another
    other = create_integration(client, admin, sandbox, "sage")
    mine = [make_event(rt, integration["id"], status="failed") for _ in range(2)]
    theirs = make_event(rt, other["id"], status="failed")

    # When the operator declines at the prompt, nothing happens
    declined = app.test_cli_runner().invoke(args=["events", "replay", "--integration", integration["id"]], input="n\n")
    assert "Replay 2 failed events?" in declined.output and declined.exit_code == 1
    assert {events.get(rt.db, e).status for e in mine} == {"failed"}

    # When they confirm, exactly those are replayed
    accepted = app.test_cli_runner().invoke(args=["events", "replay", "--integration", integration["id"]], input="y\n")
    assert "replayed 2 events" in accepted.output
    assert {events.get(rt.db, e).status for e in mine} == {"queued"}
    assert events.get(rt.db, theirs).status == "failed"
    # And --yes skips the question; with nothing left it says so
    assert "replayed 1 events" in cli("events", "replay", "--yes").output
    assert "replayed 0 events (none match)" in cli("events", "replay", "--yes").output


def test_integrations_list_flags_what_needs_attention(cli: Any, rt: Any, integration: Any) -> None:
    integrations.update(rt.db, integration["id"], status="reconnect_needed", status_reason="reconnect the accounting system",
                        webhooks_registered=False)
    text = cli("integrations", "list").output
    assert integration["id"] in text and "reconnect_needed" in text
    assert "WEBHOOKS NOT REGISTERED" in text and "reconnect the accounting system" in text
    listed = json.loads(cli("integrations", "list", "--json").output)["integrations"]
    assert [i["id"] for i in listed] == [integration["id"]]
    assert "api_key" not in json.dumps(listed) and integration["api_key"] not in json.dumps(listed)


def test_keys_rotate_reseals_with_the_first_key(app: Any, rt: Any, integration: Any) -> None:
    # Given a new key put first, the old one kept to decrypt
    old_key = rt.settings.encryption_keys[0]
    new_key = Fernet.generate_key().decode()
    rt.vault = Vault((new_key, old_key))
    result = app.test_cli_runner().invoke(args=["keys", "rotate"])

    # Then every integration's secrets open with the new key alone
    assert result.exit_code == 0 and "re-encrypted the secrets of 1 integration" in result.output
    sealed = integrations.get(rt.db, integration["id"]).sealed_secrets
    assert Vault((new_key,)).open(sealed)["source_api_key"] == integration["api_key"]


def test_incident_fixed_and_replayed_from_the_command_line(cli: Any, client: Any, admin: Any, rt: Any, sandbox: Any) -> None:
    with RunningWorker(rt):
        # Given a refused contact, found with the CLI
        case = refused_contact(client, admin, sandbox)
        event_id = case["event"]["id"]
        assert event_id in cli("events", "list", "--status", "failed").output
        assert "is already used by contact 'Old Festival Ltd'" in cli("events", "show", event_id).output

        # When fixed at the source and replayed from the CLI
        fix_account_number(sandbox, case)
        assert last_line(cli("events", "replay", event_id)) == f"{event_id} queued"
        event = wait_event(client, admin, event_id, timeout=40)

    # Then it succeeded
    assert event["status"] == "succeeded", event
    assert "succeeded" in cli("events", "show", event_id).output


def test_flask_command_line_with_the_environment_of_the_contract(tmp_path: Path, rt: Any) -> None:
    # Given only the environment variables of interface §2 (a fresh migrated database)
    from tests.conftest import migrate

    database = f"sqlite:///{tmp_path}/cli.db"
    migrate(database)
    env = {**os.environ, "ADMIN_TOKEN": ADMIN_TOKEN, "ENCRYPTION_KEY": Fernet.generate_key().decode(),
           "DATABASE_URL": database, "REDIS_URL": TEST_REDIS_URL, "PYTHONPATH": str(ROOT)}

    # When the operator runs the real command
    run = subprocess.run([sys.executable, "-m", "flask", "--app", "webhooks.wsgi", "events", "list"],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)

    # Then it answers from that database
    assert run.returncode == 0, run.stderr
    assert "no events match" in run.stdout
