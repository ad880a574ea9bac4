"""``make run``: the whole service on this machine, with a sandbox demo (interface §1).

``python -m scripts.dev [run|migrate]``

``run`` keeps the admin token, the encryption key and the sandbox QuickBooks' webhook verifier
token in ``var/secrets.env``, makes sure Redis answers (starting one without root if needed),
applies the migrations, starts the sandbox and the Procfile's ``web``, ``worker`` and ``scheduler`` under honcho, sets up the demo
integrations once ``/readyz`` answers (subscribed to the sandbox Xero's and QuickBooks'
webhooks, web links opening the stand-ins' pages), and prints, to the terminal only, how to use
them.
Ctrl-C stops everything it started except Redis, which keeps running for the next run.
``migrate`` applies the migrations with the same defaults.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Mapping

import requests

from scripts import demo, demo_payloads
from scripts.dev_env import SANDBOX_CLIENT, build_env, service_url
from scripts.local_redis import ensure_redis, var_dir
from scripts.local_secrets import load_or_create

ROOT = Path(__file__).resolve().parent.parent
BIN_DIR = Path(sys.executable).parent
#: The Procfile processes a local run starts (``release`` is run once, before them).
PROCESSES = ("web", "worker", "scheduler")
#: First port of the sandbox's stand-ins (``python -m sandbox --port``).
DEFAULT_SANDBOX_PORT = "8100"
#: Seconds to wait for the sandbox's URLs, for ``/readyz``, and for a process to stop.
SANDBOX_TIMEOUT = 20.0
READY_TIMEOUT = 90.0
STOP_TIMEOUT = 10.0


class ProcessFailed(RuntimeError):
    """Raised when a process of the local run does not come up, or stops by itself."""


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM both stop cleanly, even where SIGINT was ignored when we started
    (a non-interactive shell's background job)."""
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupt)


def run_migrations(env: Mapping[str, str]) -> None:
    print("Applying migrations (alembic upgrade head)...", flush=True)
    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=dict(env), check=True)


def demo_wanted(state_path: Path, environ: Mapping[str, str]) -> bool:
    """On the first run, or while demo integrations exist; ``DEMO=0`` turns the demo off."""
    if environ.get("DEMO", "1") == "0":
        return False
    return not state_path.exists() or bool(demo.load_state(state_path).get("integrations"))


class LocalRun:
    """The processes of one ``make run``; leaving the ``with`` block stops them, newest first."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> LocalRun:
        return self

    def __exit__(self, *exc: object) -> None:
        # A second Ctrl-C must not abandon a half-stopped run; _stop kills what lingers.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for process in reversed(self.processes):
            _stop(process)

    def start(self, command: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(command, cwd=ROOT, env=dict(env))
        self.processes.append(process)
        return process

    def start_sandbox(self, state_file: Path, port: str) -> dict[str, Any]:
        """Start ``python -m sandbox`` and return the URLs it writes to ``state_file``."""
        state_file.unlink(missing_ok=True)
        process = self.start([sys.executable, "-m", "sandbox", "--port", port,
                              "--state-file", str(state_file)], os.environ)
        deadline = time.monotonic() + SANDBOX_TIMEOUT
        while not state_file.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise ProcessFailed(f"the sandbox did not start (exit code {process.poll()}, see above); "
                                    f"SANDBOX_PORT sets its first port, now {port}")
            time.sleep(0.1)
        return json.loads(state_file.read_text())

    def start_procfile(self, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "honcho", "start", "-f", str(ROOT / "Procfile"), *PROCESSES]
        return self.start(command, env)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_ready(url: str, process: subprocess.Popen[bytes], timeout: float = READY_TIMEOUT) -> None:
    """Poll ``<url>/readyz`` until it answers 200; fail early if the processes exit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ProcessFailed(f"the Procfile processes stopped (exit code {process.returncode}); see above")
        try:
            if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise ProcessFailed(f"{url}/readyz did not answer 200 within {timeout:.0f} s")


def banner(env: Mapping[str, str], demo_state: Mapping[str, Any] | None, sandbox: Mapping[str, Any] | None) -> str:
    url, token = service_url(env), env["ADMIN_TOKEN"]
    lines = ["", "=" * 72,
             f"Service      {url}   (ops page {url}/ops)",
             f"Admin token  {token}   (kept in var/secrets.env)"]
    if demo_state and sandbox:
        lines += demo_lines(env, demo_state, sandbox)
    lines += ["See the events:", f"  {demo_payloads.events_curl(url, token)}",
              "Ctrl-C stops the service and the sandbox.", "=" * 72, ""]
    return "\n".join(lines)


def demo_lines(env: Mapping[str, str], state: Mapping[str, Any], sandbox: Mapping[str, Any]) -> list[str]:
    # The sample webhook goes to the first demo integration (the first registered system).
    rental, (kind, first) = state["rental"], next(iter(state["integrations"].items()))
    ids = ", ".join(f"{kind} {entry['id']}" for kind, entry in state["integrations"].items())
    body = demo_payloads.webhook_body(rental["member_id"], int(time.time()), rental["member_name"])
    edit = {"subdomain": rental["subdomain"], "changes": {"name": f"{rental['member_name']} Ltd"}}
    edit_url = f"{sandbox['current_rms']['base_url']}/_sandbox/members/{rental['member_id']}/edit"
    return [f"Demo         integrations on the sandbox ({ids}); webhook URLs in var/demo.json", "",
            f"Send a sample webhook to the {demo_payloads.DISPLAY_NAMES[kind]} demo integration:",
            f"  {demo_payloads.webhook_curl(demo.webhook_url_at(first['webhook_url'], env['PUBLIC_URL']), body)}",
            "Or edit the organisation in the sandbox rental system (it calls all three webhooks):",
            f"  curl -sS -X POST {shlex.quote(edit_url)} -H 'Content-Type: application/json' "
            f"-d {shlex.quote(json.dumps(edit))}",
            "The sandbox Xero and QuickBooks send their webhooks here: a merge made there is followed",
            "(README, \"A merge, followed live\"; eval \"$(.venv/bin/python -m scripts.demo_vars)\" sets its variables)."]


def set_up_demo(env: Mapping[str, str], sandbox: Mapping[str, Any], state_path: Path) -> dict[str, Any] | None:
    """The demo integrations; a failure is reported and the service keeps running."""
    api = demo.AdminApi(service_url(env), env["ADMIN_TOKEN"])
    try:
        state = demo.set_up_demo(api, sandbox, state_path, SANDBOX_CLIENT)
        # The sandbox's accounting systems tell the service of changes made there (a merge is
        # followed at once): their signed webhooks go to this machine's web process.
        demo.subscribe_ledger_webhooks(sandbox, state, service_url(env), env)
        return state
    except (demo.DemoError, requests.RequestException, KeyError, ValueError) as error:
        print(f"make run: the demo integrations could not be set up: {error}", file=sys.stderr, flush=True)
        return None


def run() -> int:
    folder = var_dir()
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)  # it holds the secrets, the demo's webhook URLs and the database
    secrets = load_or_create(folder / "secrets.env")
    state_path = folder / "demo.json"
    with LocalRun() as local:
        sandbox = None
        if demo_wanted(state_path, os.environ):
            port = os.environ.get("SANDBOX_PORT") or DEFAULT_SANDBOX_PORT
            sandbox = local.start_sandbox(folder / "sandbox.json", port)
        env = build_env(os.environ, var_dir=folder, secrets=secrets, bin_dir=BIN_DIR, sandbox=sandbox)
        reset_metrics_dir(env)
        redis_status = ensure_redis(env["REDIS_URL"], folder)
        print(redis_status.describe(), flush=True)
        run_migrations(env)
        procfile = local.start_procfile(env)
        wait_until_ready(service_url(env), procfile)
        demo_state = set_up_demo(env, sandbox, state_path) if sandbox else None
        print(banner(env, demo_state, sandbox), flush=True)
        procfile.wait()
    if procfile.returncode:
        raise ProcessFailed(f"the Procfile processes stopped (exit code {procfile.returncode}); see above")
    return 0


def reset_metrics_dir(env: Mapping[str, str]) -> None:
    """Prometheus multiprocess mode: the web's /metrics adds up every process's counters from
    files in this folder, which must start empty (prometheus-client's documented set-up)."""
    folder = Path(env["PROMETHEUS_MULTIPROC_DIR"])
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


def _redis_note() -> str:
    """A Redis this script started is left running for the next run; say so, and how to stop it."""
    pids = [path.read_text().strip() for path in var_dir().glob("redis-*.pid")]
    if not pids:
        return ""
    return f" The local Redis (pid {', '.join(pids)}) keeps running; make clean stops it."


def main(argv: list[str] | None = None) -> int:
    command = (argv if argv is not None else sys.argv[1:]) or ["run"]
    if command not in (["run"], ["migrate"]):
        print("usage: python -m scripts.dev [run|migrate]", file=sys.stderr)
        return 2
    if command == ["migrate"]:
        env = build_env(os.environ, var_dir=var_dir(), secrets={}, bin_dir=BIN_DIR)
        var_dir().mkdir(parents=True, exist_ok=True)
        run_migrations(env)
        return 0
    _stop_on_signals()
    try:
        return run()
    except KeyboardInterrupt:
        print(f"\nStopped.{_redis_note()}", flush=True)
        return 0  # stopping is what Ctrl-C asks for: not an error for make to report
    except (ProcessFailed, subprocess.CalledProcessError) as error:
        print(f"make run: {error}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
