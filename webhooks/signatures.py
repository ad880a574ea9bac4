"""Optional sender signatures: ``X-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]``.

HMAC-SHA256 over ``"<t>.<raw body>"`` with the integration's ``source.signing_secret``,
accepted within ±5 minutes of now; several ``v1`` values are accepted so that a sender can
rotate its secret. Current RMS itself does not sign (reference: no secret field on webhooks).
"""
from __future__ import annotations

import hashlib
import hmac
import time

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
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret: str, header: str | None, body: bytes, *, now: float | None = None) -> bool:
    parsed = parse_header(header)
    if parsed is None:
        return False
    timestamp, offered = parsed
    if abs((now if now is not None else time.time()) - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)
