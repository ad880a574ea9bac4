"""Webhook URL secrets: 256-bit random, stored only as SHA-256 digests, compared in constant time."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from core.tables import Integration, utcnow

#: How long the previous secret stays valid after a rotation (CONTRACT §3).
ROTATION_GRACE = timedelta(hours=24)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def accepts(integration: Integration, token: str | None, *, now: datetime | None = None) -> bool:
    """Whether ``token`` opens the integration's webhook (the current or, within 24 hours of a
    rotation, the previous secret). Both digests are always compared, so timing says nothing."""
    offered = digest(token or "")
    current = hmac.compare_digest(offered, integration.webhook_token_digest)
    previous = bool(integration.previous_token_digest) and hmac.compare_digest(
        offered, integration.previous_token_digest or ""
    )
    still_valid = (integration.previous_token_valid_until or utcnow()) > (now or utcnow())
    return bool(token) and (current or (previous and still_valid))


def rotate(integration: Integration) -> tuple[str, datetime]:
    """Give the integration a new secret; the old one stays valid for ``ROTATION_GRACE``."""
    token = new_token()
    valid_until = utcnow() + ROTATION_GRACE
    integration.previous_token_digest = integration.webhook_token_digest
    integration.previous_token_valid_until = valid_until
    integration.webhook_token_digest = digest(token)
    return token, valid_until
