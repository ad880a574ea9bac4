"""Gunicorn settings of the web process (Procfile ``web:``), taken from the environment.

``PORT`` (8000), ``WEB_HOST`` (0.0.0.0; ``make run`` uses 127.0.0.1), ``WEB_CONCURRENCY``
(2 worker processes), ``WEB_THREADS`` (4 threads each), ``WEB_TIMEOUT`` (30 s).

Both gunicorn logs are JSON lines with secret query parameters redacted. interface §8: no token
is ever logged, the webhook's ``token`` query parameter included, and gunicorn would otherwise
write it in the access log's request line and in the error log's "Error handling request <uri>".
"""
from __future__ import annotations

import json
import logging
import os
import re
from datetime import datetime, timezone
from typing import Any

from gunicorn.glogging import Logger

#: Query parameters whose values never reach a log: the webhook ``token``, OAuth tokens, codes
#: and states, and anything named like a secret, password or API key.
SECRET_PARAMETER = re.compile(r"(?i)\b([\w.-]*(?:token|secret|password|api_key)|code|state)=[^&\s\"']*")
REDACTED = "[redacted]"
#: The ``event`` of every access line.
ACCESS_EVENT = "http_request"


def redact(text: str) -> str:
    if "=" not in text:  # every secret parameter has one; most paths and messages do not
        return text
    return SECRET_PARAMETER.sub(lambda match: f"{match.group(1)}={REDACTED}", text)


def _int_env(name: str, default: int) -> int:
    """A whole-number setting; a malformed one stops gunicorn with the variable's name (§2)."""
    raw = os.environ.get(name) or str(default)
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"{name} must be a whole number greater than 0, not {raw!r}")
    return int(raw)


class RedactSecrets(logging.Filter):
    """Redact the formatted message and any traceback before a handler writes them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonLines(logging.Formatter):
    """One JSON object per line, with the keys the app's structlog lines use."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str)


class RedactingJsonLogger(Logger):
    """Gunicorn's logger with JSON lines, a structured access line and secrets redacted."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if getattr(handler, "_gunicorn", False):
                    handler.addFilter(RedactSecrets())
                    handler.setFormatter(JsonLines())

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        # The fields are read directly: gunicorn's ``atoms`` formats a timestamp and copies every
        # header and environ variable per request, a tenth of a webhook's CPU (issue 18).
        # On an error answer gunicorn passes a bare environ: the request itself still knows.
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        fields = {
            "method": environ.get("REQUEST_METHOD") or getattr(req, "method", None),
            "path": redact(environ.get("PATH_INFO") or getattr(req, "path", "") or ""),
            "query": redact(environ.get("QUERY_STRING") or getattr(req, "query", "") or ""),
            "status": int(status),
            "bytes": getattr(resp, "sent", None),
            "duration_ms": request_time.seconds * 1000 + request_time.microseconds // 1000,
            "remote_addr": environ.get("REMOTE_ADDR", "-"),
            "user_agent": environ.get("HTTP_USER_AGENT", "-"),
            # What the app asked to add (webhooks.receiver.ACCESS_LOG_FIELDS: the event a delivery
            # made): one line per request rather than an app line beside this one.
            **environ.get("crms.access_log_fields", {}),
        }
        log = self.access_log
        if not log.isEnabledFor(logging.INFO):
            return
        line: str | None = None
        for handler in log.handlers:
            if getattr(handler, "_gunicorn", False) and isinstance(handler, logging.StreamHandler):
                # Gunicorn's own stream: the line its JsonLines formatter would write, written as
                # its ``emit`` would, without a LogRecord, filters and a formatter per request
                # (half of the line's cost, issue 18). Nothing here needs RedactSecrets: the
                # path and query are redacted above and the message is fixed.
                if line is None:
                    line = json.dumps({"timestamp": datetime.now(timezone.utc).isoformat(), "level": "info",
                                       "logger": log.name, "event": ACCESS_EVENT, **fields}, default=str)
                handler.acquire()
                try:
                    handler.stream.write(line + "\n")
                    handler.flush()
                finally:
                    handler.release()
            else:
                # Any other handler (syslog, a logging config's) gets the record as before.
                handler.handle(log.makeRecord(log.name, logging.INFO, __file__, 0, ACCESS_EVENT, None, None,
                                              extra={"fields": fields}))


bind = f"{os.environ.get('WEB_HOST') or '0.0.0.0'}:{_int_env('PORT', 8000)}"
workers = _int_env("WEB_CONCURRENCY", 2)
threads = _int_env("WEB_THREADS", 4)
timeout = _int_env("WEB_TIMEOUT", 30)
accesslog = "-"
errorlog = "-"
logger_class = RedactingJsonLogger
proc_name = "webhooks"
#: Gunicorn 27's control socket is not used, and two servers on one machine would share its path.
control_socket_disable = True


def child_exit(server: Any, worker: Any) -> None:
    """Prometheus multiprocess mode: a dead worker's live gauges must not be counted."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
