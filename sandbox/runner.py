"""Serve a WSGI app over real HTTP on 127.0.0.1, in a background thread."""
from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server


class ServerThread:
    """A threaded HTTP server on a free (or given) loopback port; ``url`` is its base address."""

    def __init__(self, app: Any, *, port: int = 0, host: str = "127.0.0.1") -> None:
        self.app = app
        self.server: BaseWSGIServer = make_server(host, port, app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://{host}:{self.port}"
        # A short poll interval makes stop() quick (the default is half a second).
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> "ServerThread":
        self._thread.start()
        return self

    def stop(self) -> None:
        # A stand-in with background work (webhook deliveries) names how to stop it.
        stop_background = getattr(self.app, "extensions", {}).get("sandbox_stop")
        if stop_background is not None:
            stop_background()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
