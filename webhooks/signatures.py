"""Optional sender signatures: ``X-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]``.

HMAC-SHA256 over ``"<t>.<raw body>"`` with the integration's ``source.signing_secret``,
accepted within ±5 minutes of now; several ``v1`` values are accepted so that a sender can
rotate its secret. Current RMS itself does not sign (reference: no secret field on webhooks).
"""
from __future__ import annotations

import hashlib
import hmac
import time
from typing import Iterable

#: Seconds a signature's timestamp may differ from now, either way.
TOLERANCE_SECONDS = 300


def parse_header(header: str | None) -> tuple[int, list[str]] | None:
    if not header:
        return None
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value.strip().lower())
    if timestamp is None or not signatures:
        return None
    return timestamp, signatures


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return _hasher(secret, timestamp, (body,)).hexdigest()


def fresh(header: str | None, *, now: float | None = None) -> tuple[int, list[str]] | None:
    """The header's timestamp and ``v1`` values when it is well formed and within ±5 minutes:
    checked before the body is read, so a stale or missing signature is refused first."""
    parsed = parse_header(header)
    if parsed is None:
        return None
    if abs((now if now is not None else time.time()) - parsed[0]) > TOLERANCE_SECONDS:
        return None
    return parsed


def matches(secret: str, offered: tuple[int, list[str]], chunks: Iterable[bytes]) -> bool:
    """Whether one of the offered ``v1`` values signs the body given as ``chunks``."""
    timestamp, candidates = offered
    expected = _hasher(secret, timestamp, chunks).hexdigest()
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


def verify(secret: str, header: str | None, body: bytes, *, now: float | None = None) -> bool:
    offered = fresh(header, now=now)
    return offered is not None and matches(secret, offered, (body,))


def _hasher(secret: str, timestamp: int, chunks: Iterable[bytes]) -> "hmac.HMAC":
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b".", hashlib.sha256)
    for chunk in chunks:
        digest.update(chunk)
    return digest
