"""A missing or invalid ``ADMIN_TOKEN`` or ``ENCRYPTION_KEY`` stops every process at start with
a message naming the variable (issue 6, "Credentials at rest"; interface §2): the web app, the
scheduler and the ``flask`` command line, run as the operator runs them."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from core.errors import ConfigError
from core.settings import Settings
from tests.conftest import ADMIN_TOKEN, TEST_REDIS_URL

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = {
    "web app": [sys.executable, "-c", "from webhooks import create_app; create_app()"],
    "scheduler": [sys.executable, "-m", "workers.scheduler"],
    "flask": [sys.executable, "-m", "flask", "--app", "webhooks.wsgi", "events", "list"],
}
GOOD_KEY = Fernet.generate_key().decode()
BAD_SETTINGS = [
    ("ADMIN_TOKEN", {"ADMIN_TOKEN": ""}),
    ("ADMIN_TOKEN", {"ADMIN_TOKEN": "short"}),
    ("ENCRYPTION_KEY", {"ENCRYPTION_KEY": ""}),
    ("ENCRYPTION_KEY", {"ENCRYPTION_KEY": "not-a-fernet-key"}),
    ("ENCRYPTION_KEY", {"ENCRYPTION_KEY": f"{GOOD_KEY},{'A' * 43}"}),  # the second of a rotation list
]


def environment(tmp_path: Path, **changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ADMIN_TOKEN", "ENCRYPTION_KEY")}
    env.update(ADMIN_TOKEN=ADMIN_TOKEN, ENCRYPTION_KEY=GOOD_KEY, DATABASE_URL=f"sqlite:///{tmp_path}/s.db",
               REDIS_URL=TEST_REDIS_URL, PYTHONPATH=str(ROOT))
    env.update(changes)
    return {k: v for k, v in env.items() if v != ""}


#: Every bad setting for the web app; one of each variable for the other processes (same code).
CASES = [("web app", *case) for case in BAD_SETTINGS] + [
    (process, *BAD_SETTINGS[i]) for process in ("scheduler", "flask") for i in (0, 3)]


@pytest.mark.parametrize(("process", "variable", "changes"), CASES)
def test_a_process_refuses_to_start_naming_the_variable(tmp_path: Path, process: str, variable: str,
                                                        changes: dict[str, str]) -> None:
    # Given an environment with one bad secret setting
    env = environment(tmp_path, **changes)
    # When the process starts
    run = subprocess.run(PROCESSES[process], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    # Then it stops at once, non-zero, naming the variable (and never echoing the bad value)
    assert run.returncode != 0, run.stdout
    assert variable in run.stderr, run.stderr[-2000:]
    for value in changes.values():
        if len(value) > 8:
            assert value not in run.stderr + run.stdout


def test_settings_name_the_variable_without_echoing_a_bad_key() -> None:
    # Given a well-formed list whose second key is not a Fernet key
    secret_looking = "Z" * 40
    # When the settings are read / Then the error names the variable, not the value
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"ADMIN_TOKEN": ADMIN_TOKEN, "ENCRYPTION_KEY": f"{GOOD_KEY},{secret_looking}"})
    assert "ENCRYPTION_KEY" in str(raised.value) and secret_looking not in str(raised.value)
    assert GOOD_KEY not in str(raised.value)


def test_valid_settings_start(tmp_path: Path, redis_client: Any) -> None:
    # Given a complete environment (the control case: the refusals above are about the secrets)
    env = environment(tmp_path)
    # When the web app is built / Then it starts
    run = subprocess.run(PROCESSES["web app"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
