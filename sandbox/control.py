"""What every stand-in shares: the call log, fault injection and the ``/_sandbox/`` routes.

Faults are matched on method and a path regex, and used ``times`` times:

- ``status``: answer ``status`` with ``body``/``headers`` instead of doing the work;
- ``delay``: sleep ``delay`` seconds, then do the work (a client's read timeout fires);
- ``reset``: close the connection before doing the work (a connection reset);
- ``lost``: do the work, then close the connection before answering (a write applied
  whose answer was lost).

Control routes (never logged, never rate limited):
``POST /_sandbox/faults`` (a fault as JSON), ``DELETE /_sandbox/faults``,
``GET /_sandbox/calls[?since=N]``, ``POST /_sandbox/reset``, ``GET /_sandbox/stats``.
"""
from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import Flask, Response, g, jsonify, request

CONTROL_PREFIX = "/_sandbox/"


@dataclass
class Fault:
    path: str = ".*"
    method: str | None = None
    mode: str = "status"
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    times: int = 1

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return re.search(self.path, path) is not None


class Control:
    """The call log and the fault list of one stand-in."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self.extra_stats: Callable[[], dict[str, Any]] = lambda: {}

    def record(self) -> None:
        entry = {
            "method": request.method,
            "path": request.path,
            "query": request.args.to_dict(flat=True),
            "headers": {k: v for k, v in request.headers.items()},
            "json": request.get_json(silent=True),
            "body": request.get_data(as_text=True)[:10000],
            "at": time.time(),
        }
        with self.lock:
            self.calls.append(entry)

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.matches(method, path):
                    fault.times -= 1
                    return fault
        return None

    def install(self, app: Flask, *, reset: Callable[[], None]) -> None:
        """Attach the call log, the faults and the control routes to ``app``."""

        @app.before_request
        def _before() -> Response | None:
            if request.path.startswith(CONTROL_PREFIX):
                return None
            self.record()
            fault = self.take_fault(request.method, request.path)
            if fault is None:
                return None
            if fault.mode == "delay":
                time.sleep(fault.delay)
                return None
            if fault.mode == "reset":
                _close_connection()
                return Response(status=500)
            if fault.mode == "lost":
                g.drop_answer = True
                return None
            payload = fault.body if fault.body is not None else {"error": "injected fault"}
            response = jsonify(payload) if not isinstance(payload, str) else Response(payload)
            response.status_code = fault.status
            response.headers.update(fault.headers)
            return response

        @app.after_request
        def _after(response: Response) -> Response:
            if g.get("drop_answer"):
                _close_connection()
            return response

        @app.post(CONTROL_PREFIX + "faults")
        def _add_fault() -> Any:
            with self.lock:
                self.faults.append(Fault(**(request.get_json() or {})))
            return {"faults": len(self.faults)}, 201

        @app.delete(CONTROL_PREFIX + "faults")
        def _clear_faults() -> Any:
            with self.lock:
                self.faults.clear()
            return "", 204

        @app.get(CONTROL_PREFIX + "calls")
        def _calls() -> Any:
            since = int(request.args.get("since", 0))
            with self.lock:
                return {"calls": self.calls[since:], "total": len(self.calls)}

        @app.get(CONTROL_PREFIX + "stats")
        def _stats() -> Any:
            with self.lock:
                writes = sum(1 for c in self.calls if c["method"] in ("POST", "PUT", "DELETE"))
                base = {"calls": len(self.calls), "writes": writes}
            return {**base, **self.extra_stats()}

        @app.post(CONTROL_PREFIX + "reset")
        def _reset() -> Any:
            with self.lock:
                self.calls.clear()
                self.faults.clear()
            reset()
            return "", 204


def _close_connection() -> None:
    """Shut the client's socket: it sees a reset (before the work) or a lost answer (after)."""
    connection = request.environ.get("werkzeug.socket")
    if connection is None:
        return
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
