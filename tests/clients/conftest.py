"""The stand-ins driven by the libraries people really use (issue 17).

Each library is pointed at a stand-in served over real HTTP on 127.0.0.1, through the settings
the library offers (a base URL, a discovery document, a token URL). Nothing in a library is
replaced: a stand-in change that breaks a real client fails here.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from sandbox.runner import ServerThread

CLIENT_ID, CLIENT_SECRET = "sdk-client", "sdk-secret"
REDIRECT_URI = "http://127.0.0.1:9/callback"


@pytest.fixture(autouse=True)
def plain_http_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """oauthlib (under requests-oauthlib and python-quickbooks) refuses http:// unless told
    otherwise; the stand-ins are served on loopback."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def serve() -> Iterator[Callable[..., ServerThread]]:
    """Start ``factory(**options)`` over HTTP; stopped after the test."""
    servers: list[ServerThread] = []

    def start(factory: Callable[..., Any], **options: Any) -> ServerThread:
        server = ServerThread(factory(**options)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


class Receiver:
    """A real HTTP server that records webhook deliveries and answers with scripted statuses."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.statuses: list[int] = []  #: answers to give, in order; 200 once exhausted
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.arrived:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.received.append({"headers": dict(self.headers.items()),
                                              "body": body, "status": status})
                    receiver.arrived.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The first ``count`` deliveries, waiting at most ``timeout`` seconds for them."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout=timeout)
            assert len(self.received) >= count, f"{len(self.received)} of {count} deliveries came"
            return list(self.received[:count])

    def bodies(self) -> list[dict[str, Any]]:
        with self.arrived:
            return [json.loads(r["body"]) for r in self.received]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.stop()
