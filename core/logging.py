"""One structlog configuration: JSON lines on stdout, secrets redacted.

The redaction processor blanks any key whose name says token, secret, key, password or
authorization, at any depth, and any ``token=`` query parameter inside a string, so that a
careless ``log.info(..., headers=...)`` cannot leak credentials.
"""
from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

SECRET_KEY_PATTERN = re.compile(r"token|secret|key|password|authorization|signature", re.I)
#: Keys that match the pattern but hold no secret (ids and names we want in logs).
NOT_SECRET = frozenset({"idempotency_key", "key_count", "event_id", "source_event_id"})
TOKEN_IN_URL = re.compile(r"((?:[?&]|\b)(?:token|access_token|refresh_token|code)=)[^&\s\"']+", re.I)
REDACTED = "[redacted]"


def redact(value: Any, key: str = "") -> Any:
    """``value`` with every secret-looking key blanked and URL tokens masked."""
    if key and key not in NOT_SECRET and SECRET_KEY_PATTERN.search(key):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return TOKEN_IN_URL.sub(r"\1" + REDACTED, value)
    return value


def redact_processor(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    return {k: redact(v, k) for k, v in event_dict.items()}


def configure(level: str = "INFO") -> None:
    """Configure structlog and the stdlib root logger once per process."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_processor,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper(), 20)),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=level.upper(), stream=sys.stdout, format="%(message)s")
