"""Serve the four stand-ins over HTTP until SIGTERM or Ctrl-C (interface §9).

``python -m sandbox [--host 127.0.0.1] [--port 8100] [--state-file var/sandbox.json]``

The rental system takes ``--port``, the accounting systems the next three ports (``--port 0``
gives each a free port). Their URLs are printed and written, as JSON, to the state file, which
``scripts/dev.py`` reads to point the service at them; the file is removed on a clean stop.
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from sandbox.runner import ServerThread

#: First port; the stand-ins take it and the ones after it, in STAND_INS order.
DEFAULT_PORT = 8100
DEFAULT_HOST = "127.0.0.1"
#: Where the URLs are written, beside the service's other local state.
DEFAULT_STATE_FILE = Path(os.environ.get("VAR_DIR", "var")) / "sandbox.json"

#: stand-in -> its URL paths below the server's base (the real systems' own layout,
#: the providers' API documentation and current_rms.md).
STAND_INS: dict[str, dict[str, str]] = {
    "current_rms": {"api_url": "/api/v1"},
    "xero": {
        "api_url": "/api.xro/2.0",
        "token_url": "/connect/token",
        "authorize_url": "/identity/connect/authorize",
    },
    "quickbooks": {
        "api_url": "/v3",
        "token_url": "/oauth2/v1/tokens/bearer",
        "authorize_url": "/connect/oauth2",
    },
    "sage": {
        "api_url": "/v3.1",
        "token_url": "/token",
        "authorize_url": "/oauth2/auth/central",
    },
}


class MissingStandIn(SystemExit):
    """Raised when a stand-in's module or its ``create_app`` cannot be found."""


def load_app(name: str) -> Any:
    """Import ``sandbox.<name>`` only now, so one broken stand-in names itself clearly."""
    module_name = f"sandbox.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            raise MissingStandIn(f"sandbox: the {name} stand-in ({module_name}) is missing") from error
        raise
    factory = getattr(module, "create_app", None)
    if factory is None:
        raise MissingStandIn(f"sandbox: {module_name} has no create_app()")
    return factory()


def urls_for(name: str, base_url: str) -> dict[str, str]:
    return {"base_url": base_url, **{key: base_url + path for key, path in STAND_INS[name].items()}}


def start_servers(host: str, first_port: int) -> dict[str, ServerThread]:
    """Start every stand-in on consecutive ports (or free ones for port 0)."""
    apps = {name: load_app(name) for name in STAND_INS}
    servers: dict[str, ServerThread] = {}
    try:
        for offset, (name, app) in enumerate(apps.items()):
            port = first_port + offset if first_port else 0
            servers[name] = ServerThread(app, host=host, port=port).start()
    except BaseException:  # werkzeug exits (SystemExit) when a port is taken
        stop_servers(servers)
        raise
    return servers


def stop_servers(servers: dict[str, ServerThread]) -> None:
    """Stop them side by side: each waits for its serve loop to notice (one poll interval)."""
    stoppers = [threading.Thread(target=server.stop) for server in servers.values()]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join()


def _serve_own_pages(servers: dict[str, ServerThread]) -> None:
    """Sage's answers carry the web link of each contact: under ``python -m sandbox`` it names
    the stand-in itself, which serves the page (the other systems' links are built by clients)."""
    sage = servers.get("sage")
    if sage is not None:
        sage.app.extensions["sage_api"].web_url = sage.url


def write_state(path: Path, urls: dict[str, dict[str, str]]) -> None:
    """Write atomically: a reader polling for the file never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(urls, indent=2) + "\n")
    partial.replace(path)


def stop_event() -> threading.Event:
    """An event that SIGTERM and SIGINT set, installed before anything starts."""
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    return stopping


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="first port; 0 = free ports")
    parser.add_argument("--state-file", type=Path, default=DEFAULT_STATE_FILE)
    parser.add_argument("--log-requests", action="store_true",
                        help="print every request (each stand-in also keeps them at /_sandbox/calls)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stopping = stop_event()
    if not args.log_requests:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        servers = start_servers(args.host, args.port)
    except OSError as error:
        raise SystemExit(f"sandbox: cannot listen from {args.host}:{args.port} ({error}); "
                         "is another sandbox running? Choose other ports with --port") from error
    urls = {name: urls_for(name, server.url) for name, server in servers.items()}
    _serve_own_pages(servers)
    try:
        write_state(args.state_file, urls)
        for name, entry in urls.items():
            print(f"sandbox {name:<12} {entry['base_url']}", flush=True)
        print(f"sandbox URLs written to {args.state_file}", flush=True)
        # A timed wait keeps the main thread responsive to signals.
        while not stopping.wait(timeout=1.0):
            pass
    finally:
        stop_servers(servers)
        args.state_file.unlink(missing_ok=True)
    print("sandbox stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
