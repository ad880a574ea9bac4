"""What the benchmarks share: the service's processes as the Procfile starts them, the
sandbox stand-ins in this process, integrations wired to them, memory figures, and the one
machine-readable line each benchmark prints (``BENCH-RESULT {json}``, read by ``bench.__main__``).

Everything listens on 127.0.0.1 only. Redis: ``BENCH_REDIS_URL`` if set, else a private
``redis-server`` on a free loopback port, without persistence, started for the run and stopped
after it (a shared Redis db would let another process's Dramatiq worker take the benchmark's
messages). It is flushed at the start of each measurement so no stale message or limiter log
of an earlier one counts. PostgreSQL: ``BENCH_POSTGRES_URL`` (default the test server), in
a schema of the benchmark's own that is dropped afterwards.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN_DIR = Path(sys.executable).parent
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RESULT_PREFIX = "BENCH-RESULT "
ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"
#: Seconds to wait for a started process to answer.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
#: Lines of the Procfile: ``name: command``.
PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")


def redis_url() -> str:
    """The benchmarks' Redis; a private one is started on first use (and sets the variable,
    so that child processes use it too)."""
    if not os.environ.get("BENCH_REDIS_URL"):
        os.environ["BENCH_REDIS_URL"] = _start_private_redis()
    return os.environ["BENCH_REDIS_URL"]


def _start_private_redis() -> str:
    import atexit

    from scripts.local_redis import answers, redis_binary

    port = free_port()
    server = subprocess.Popen([redis_binary(), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                               "--appendonly", "no", "--dir", tempfile.gettempdir()],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    atexit.register(lambda: (server.terminate(), server.wait(timeout=10)))
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + START_TIMEOUT
    while not answers(url):
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the benchmarks' private redis-server did not start")
        time.sleep(0.05)
    return url


def postgres_url() -> str:
    return os.environ.get("BENCH_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def emit(name: str, figure: float | None, *, unit: str, target: str, baseline: float | None = None,
         baseline_label: str = "", ratio: float | None = None, met: bool | None = None,
         note: str = "") -> dict[str, Any]:
    """Print the benchmark's machine-readable line; ``met`` is ``None`` where no target applies."""
    result = {"name": name, "figure": figure, "unit": unit, "target": target, "baseline": baseline,
              "baseline_label": baseline_label, "ratio": ratio, "met": met, "note": note}
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def flush_bench_redis() -> None:
    import redis

    client = redis.Redis.from_url(redis_url())
    client.flushdb()
    client.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


# --- memory --------------------------------------------------------------------------------

def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a live process, in MiB; 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def descendants(pid: int) -> list[int]:
    import psutil

    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


# --- the service's processes ---------------------------------------------------------------

def procfile_command(name: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        match = PROCFILE_LINE.match(line)
        if match and match.group(1) == name:
            return match.group(2)
    raise SystemExit(f"the Procfile has no {name}: line")


@dataclass
class Process:
    """A process started in a session of its own, so that its forked children stop with it."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def worker_pids(self) -> list[int]:
        """The forked children doing the work (gunicorn's and dramatiq's workers)."""
        return [pid for pid in descendants(self.pid) if pid != self.pid]

    def stop(self) -> None:
        """SIGTERM to the whole group, then SIGKILL to whatever of it outlives STOP_TIMEOUT: a
        worker left behind would take the next benchmark's messages from the shared Redis."""
        _signal_group(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _group_alive(self.pid) and time.monotonic() < deadline:
            self.popen.poll()  # reap the shell so that it does not count as alive
            time.sleep(0.05)
        if _group_alive(self.pid):
            _signal_group(self.pid, signal.SIGKILL)
        self.popen.wait()

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    """Whether a live (non-zombie) process of the group remains."""
    import psutil

    for process in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False


@dataclass
class Service:
    """The service's environment (a private database and the benchmarks' Redis) and the
    processes started in it, each run exactly as the Procfile line says."""

    database_url: str | None = None
    window: float = 0.0
    extra_env: dict[str, str] = field(default_factory=dict)
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bench-")))
    processes: list[Process] = field(default_factory=list)
    _schema: str | None = None

    def __post_init__(self) -> None:
        from cryptography.fernet import Fernet

        stop_on_sigterm()
        if self.database_url == "postgres":
            self.database_url = self._postgres_schema()
        self.database_url = self.database_url or f"sqlite:///{self.folder / 'bench.db'}"
        self.port = free_port()
        self.env = {
            **os.environ, "DATABASE_URL": self.database_url, "REDIS_URL": redis_url(),
            "ADMIN_TOKEN": ADMIN_TOKEN, "ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "PORT": str(self.port), "WEB_HOST": "127.0.0.1", "PUBLIC_URL": f"http://127.0.0.1:{self.port}",
            "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
            "PATH": f"{BIN_DIR}:{os.environ.get('PATH', '')}",
            "RATE_LIMIT_WINDOW_SECONDS": str(self.window), **self.extra_env,
        }
        self.url = f"http://127.0.0.1:{self.port}"
        subprocess.run([PYTHON, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=self.env,
                       check=True, capture_output=True)

    def _postgres_schema(self) -> str:
        import sqlalchemy

        self._schema = f"bench_{uuid.uuid4().hex[:10]}"
        engine = sqlalchemy.create_engine(postgres_url())
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f"CREATE SCHEMA {self._schema}"))
        engine.dispose()
        separator = "&" if "?" in postgres_url() else "?"
        return f"{postgres_url()}{separator}options=-csearch_path%3D{self._schema}"

    def runtime(self) -> Any:
        from core.runtime import Runtime
        from core.settings import Settings

        return Runtime.from_settings(Settings.from_env(self.env))

    def start(self, name: str, command: str | None = None, *, ready: Callable[[], bool] | None = None) -> Process:
        """Start the Procfile's ``name`` line (or ``command``) through the shell, as honcho does."""
        log_path = self.folder / f"{name}.log"
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(["/bin/sh", "-c", command or procfile_command(name)],
                                     cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        process = Process(name, popen, log_path)
        self.processes.append(process)
        if ready is not None:
            self._wait(process, ready)
        return process

    def start_web(self, app: str = "webhooks.wsgi:app") -> Process:
        command = procfile_command("web").replace("webhooks.wsgi:app", f"'{app}'")
        # gunicorn's access log is kept (the Procfile's settings) but not stored: /dev/null.
        process = self.start("web", command, ready=lambda: _answers(self.url))
        return process

    def _wait(self, process: Process, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not ready():
            if process.popen.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{process.name} did not start:\n{process.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        if self._schema:
            import sqlalchemy

            engine = sqlalchemy.create_engine(postgres_url())
            with engine.begin() as connection:
                connection.execute(sqlalchemy.text(f"DROP SCHEMA {self._schema} CASCADE"))
            engine.dispose()
            self._schema = None
        if os.environ.get("BENCH_KEEP_LOGS"):
            # The processes' logs and the database, for a look at what a run did.
            print(f"kept {self.folder} (BENCH_KEEP_LOGS)", flush=True)
        else:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so that ``with Service(...)`` and ``finally`` blocks stop the
    service's processes: ``python -m bench`` ends a benchmark over its budget with SIGTERM, and
    the processes started here live in sessions of their own, which would otherwise outlive it
    (and take the next benchmark's CPU)."""
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))


def _answers(url: str) -> bool:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=1)
    try:
        connection.request("GET", "/healthz")
        connection.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        connection.close()


# --- the sandbox and integrations ----------------------------------------------------------

@dataclass
class Sandbox:
    """The rental stand-in and the Xero stand-in, served from this process on 127.0.0.1."""

    window: float = 60.0
    rate_limit: int = 60
    servers: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        import logging

        from sandbox import current_rms, xero
        from sandbox.runner import ServerThread

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.xero_app = xero.create_app(rate_limit=self.rate_limit, window=self.window,
                                        day_limit=10_000_000, app_minute_limit=10_000_000)
        rental = ServerThread(current_rms.create_app(deliver_webhooks=False)).start()
        accounting = ServerThread(self.xero_app).start()
        self.servers = [rental, accounting]
        self.current_rms, self.xero = rental.url, accounting.url

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def post(self, system_url: str, path: str, body: dict[str, Any]) -> Any:
        import requests

        response = requests.post(f"{system_url}/_sandbox/{path}", json=body, timeout=300)
        response.raise_for_status()
        return response.json() if response.content else None

    def get(self, system_url: str, path: str, **params: Any) -> Any:
        import requests

        response = requests.get(f"{system_url}/_sandbox/{path}", params=params, timeout=60)
        response.raise_for_status()
        return response.json()


@dataclass(frozen=True)
class Wired:
    """One integration: its id, webhook path (with its secret), rental account and tenant."""

    id: str
    webhook_path: str
    subdomain: str
    tenant: str


def store_xero_integration(rt: Any, *, current_rms_url: str, xero_url: str, subdomain: str,
                           api_key: str, tokens: dict[str, Any], name: str,
                           policies: dict[str, Any] | None = None) -> tuple[Any, str]:
    """Store a Xero integration on the stand-ins directly (no admin API, no webhook
    registration); returns it and its webhook secret."""
    from core.store import integrations
    from core.store.integrations import NewIntegration

    return integrations.create(rt.db, rt.vault, NewIntegration(
        name=name, provider_kind="xero", source_subdomain=subdomain,
        settings={"source": {"api_url": f"{current_rms_url}/api/v1"},
                  "provider": {"tenant_id": tokens["tenant"], "api_url": f"{xero_url}/api.xro/2.0",
                               "token_url": f"{xero_url}/connect/token"}},
        secrets={"source_api_key": api_key, "client_id": "bench", "client_secret": "bench",
                 "access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
                 "expires_at": "2999-01-01T00:00:00+00:00"},
        policies=policies or {},
    ))


def wire_integration(rt: Any, sandbox: Sandbox, *, tenant: str | None = None,
                     subdomain: str | None = None, policies: dict[str, Any] | None = None) -> Wired:
    """A Xero integration whose both ends are the sandbox, stored directly (no admin API)."""
    subdomain = subdomain or f"b{uuid.uuid4().hex[:10]}"
    api_key = "bench-key"
    sandbox.post(sandbox.current_rms, "accounts", {"subdomain": subdomain, "api_key": api_key})
    tokens = sandbox.post(sandbox.xero, "tokens", {"tenant": tenant} if tenant else {})
    integration, token = store_xero_integration(
        rt, current_rms_url=sandbox.current_rms, xero_url=sandbox.xero, subdomain=subdomain,
        api_key=api_key, tokens=tokens, name=f"bench {subdomain}", policies=policies,
    )
    path = f"/webhooks/current-rms/{integration.id}?token={token}"
    return Wired(integration.id, path, subdomain, tokens["tenant"])


def seed_member(sandbox: Sandbox, subdomain: str, name: str) -> int:
    member = {"name": name, "membership_type": "Organisation",
              "primary_address": {"street": "1 Bench Street", "city": "Auckland", "postcode": "1010",
                                  "country_id": 16700},
              "emails": [{"address": "accounts@bench.example", "type_id": 4001}]}
    seeded = sandbox.post(sandbox.current_rms, "members", {"subdomain": subdomain, "member": member})
    return int(seeded["member"]["id"])


def webhook_body(member_id: int, action_id: int, action_type: str = "create") -> bytes:
    return json.dumps({"action": {"id": action_id, "subject_id": member_id, "subject_type": "Member",
                                  "action_type": action_type}}).encode()
