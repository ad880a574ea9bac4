"""Every ``crms-link`` line the README shows runs, exactly as written, against a test instance.

The instance is what ``make run`` leaves behind: a ``var/`` folder with ``secrets.env`` and a
migrated ``app.db`` holding an integration and a failed event. The commands run through bash
with ``.venv/bin`` on ``PATH``, as a reader would paste them; the README's placeholders are
shell variables (``$EVENT_ID``, ``$INTEGRATION_ID``) that the test sets, as the reader would.
A command that stops working, or a README that stops showing the command line, fails here.
"""
from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_REDIS_URL
from tests.support import create_integration
from tests.webhooks.ops_support import make_event

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
#: Fenced blocks a reader pastes into a shell.
SHELL_FENCES = ("sh", "console", "bash", "shell")
#: Seconds one command may take before the test gives up on it.
COMMAND_TIMEOUT = 60


def readme_command_lines() -> list[str]:
    """The ``crms-link`` lines of the README's shell blocks (a leading ``$ `` prompt dropped)."""
    lines: list[str] = []
    fence: str | None = None
    for raw in README.read_text().splitlines():
        stripped = raw.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else stripped[3:].strip()
            continue
        if fence in SHELL_FENCES:
            command = stripped[2:] if stripped.startswith("$ ") else stripped
            if command.startswith("crms-link"):
                lines.append(re.sub(r"\s+#.*$", "", command))
    return lines


def crms_link() -> str:
    found = shutil.which("crms-link", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("crms-link is not in the venv: `make install` puts it there (pip install -e .)")
    return found


@pytest.fixture
def instance(tmp_path: Path, rt: Any, client: Any, admin: Any, sandbox: Any) -> dict[str, str]:
    """A ``var/`` as ``make run`` leaves it, holding one integration and one failed event."""
    integration = create_integration(client, admin, sandbox, "xero")
    failed = make_event(rt, integration["id"], status="failed", organisation_id=7,
                        reason="the account number is already used by another contact")
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    # The runtime's own database (through SQLite's backup API: the WAL holds the latest rows)
    # and keys, written where make run keeps them.
    with sqlite3.connect(rt.settings.database_url.removeprefix("sqlite:///")) as source, \
            sqlite3.connect(var_dir / "app.db") as copy:
        source.backup(copy)
    (var_dir / "secrets.env").write_text(
        f"ADMIN_TOKEN={rt.settings.admin_token}\nENCRYPTION_KEY={','.join(rt.settings.encryption_keys)}\n"
    )
    return {"VAR_DIR": str(var_dir), "EVENT_ID": failed, "INTEGRATION_ID": integration["id"]}


def shell_env(extra: dict[str, str]) -> dict[str, str]:
    """A reader's shell: the venv first on PATH, nothing of the service's configuration set."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("ADMIN_TOKEN", "ENCRYPTION_KEY", "DATABASE_URL")}
    env["PATH"] = f"{Path(crms_link()).parent}:{env.get('PATH', '')}"
    env["REDIS_URL"] = TEST_REDIS_URL
    return {**env, **extra}


def test_the_readme_shows_the_operator_commands() -> None:
    shown = readme_command_lines()
    for needed in ("crms-link events list", "crms-link events show", "crms-link events replay",
                   "crms-link integrations list", "crms-link keys rotate"):
        assert any(line.startswith(needed) for line in shown), f"README shows no `{needed}` line"


def test_every_readme_command_runs_as_written(instance: dict[str, str], tmp_path: Path) -> None:
    env = shell_env(instance)
    # The reader's working directory is a scratch one: a command that writes a file (`-o links.csv`)
    # must not leave it in the checkout.
    workdir = tmp_path / "reader"
    workdir.mkdir()
    for command in readme_command_lines():
        # When the reader pastes the line
        result = subprocess.run(["bash", "-c", command], env=env, cwd=workdir, capture_output=True,
                                text=True, timeout=COMMAND_TIMEOUT, stdin=subprocess.DEVNULL)
        # Then it works
        assert result.returncode == 0, f"`{command}` exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr, f"`{command}` printed a traceback:\n{result.stderr}"


def test_a_missing_setting_is_one_line_and_exit_2(tmp_path: Path) -> None:
    # Given no var/secrets.env and no ADMIN_TOKEN
    env = shell_env({"VAR_DIR": str(tmp_path / "nothing-here")})
    # When any command runs
    result = subprocess.run([crms_link(), "integrations", "list"], env=env, capture_output=True, text=True,
                            timeout=COMMAND_TIMEOUT, stdin=subprocess.DEVNULL)
    # Then it names the variable in one line and exits 2
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "ADMIN_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_malformed_setting_is_one_line_and_exit_2(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    (var_dir / "secrets.env").write_text(f"ADMIN_TOKEN={'a' * 32}\nENCRYPTION_KEY=not-a-fernet-key\n")
    env = shell_env({"VAR_DIR": str(var_dir)})
    result = subprocess.run([crms_link(), "events", "list"], env=env, capture_output=True, text=True,
                            timeout=COMMAND_TIMEOUT, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert "ENCRYPTION_KEY" in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0

