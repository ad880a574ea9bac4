"""One structlog configuration: JSON lines on stdout, secrets redacted.

The redaction processor blanks any key whose name says token, secret, key, password or
authorization, at any depth, and any ``token=`` query parameter inside a string, so that a
careless ``log.info(..., headers=...)`` cannot leak credentials.
"""
from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

SECRET_KEY_PATTERN = re.compile(r"token|secret|key|password|authorization|signature", re.I)
#: Keys that match the pattern but hold no secret (ids and names we want in logs).
NOT_SECRET = frozenset({"idempotency_key", "key_count", "event_id", "source_event_id"})
TOKEN_IN_URL = re.compile(
    r"((?:[?&](?:code|state)|(?:[?&]|\b)(?:[a-z_]*token|api_?key|apikey))=)[^&\s\"']+", re.I
)
REDACTED = "[redacted]"
#: A secret inside free text: ``"access_token": "…"`` (JSON bodies), ``Bearer …`` headers.
SECRET_IN_JSON = re.compile(
    r'("(?:[a-z_]*token|[a-z_]*secret|password|api_?key|authorization)"\s*:\s*)"[^"]*"', re.I
)
BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.I)
#: What each of the three patterns above needs to match at all: one search rules them all out
#: for the ids, names and statuses most log values are (the logging's share of a webhook).
MAYBE_SECRET = re.compile(r'[="]|bearer', re.I)


def scrub(text: str) -> str:
    """``text`` with every token-looking value masked: what is stored on an event (a provider's
    error body) must carry no credential (issue 6, "no leaks")."""
    if not MAYBE_SECRET.search(text):
        return text
    text = SECRET_IN_JSON.sub(r'\1"' + REDACTED + '"', text)
    text = BEARER.sub(r"\1" + REDACTED, text)
    return TOKEN_IN_URL.sub(r"\1" + REDACTED, text)


@functools.lru_cache(maxsize=1024)
def _secret_key(key: str) -> bool:
    return key not in NOT_SECRET and bool(SECRET_KEY_PATTERN.search(key))


def redact(value: Any, key: str = "") -> Any:
    """``value`` with every secret-looking key blanked and URL tokens masked."""
    if key and _secret_key(key):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return scrub(value)
    return value


def redact_processor(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
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
        # No file given: each logger writes to the sys.stdout of the moment (tests swap it).
        logger_factory=structlog.PrintLoggerFactory(),
        # Off so that tests capturing logs see every logger; the cost is one lookup per call.
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level.upper(), stream=sys.stdout, format="%(message)s")
