"""Webhook URL secrets: 256-bit random, stored only as SHA-256 digests, compared in constant time."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import datetime, timedelta
from typing import Any

from core.models import IntegrationStatus
from core.tables import Integration, utcnow

#: How long the previous secret stays valid after a rotation (interface §3).
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


#: Seconds a token that opened an integration's webhook is trusted without reading the row.
ACCEPTED_FOR_SECONDS = 2.0
#: Integrations remembered per process at most (the oldest is forgotten first).
ACCEPTED_MAX_ENTRIES = 4096


class RecentlyAccepted:
    """A per-process memory of the integration row that last accepted its *current* token, so
    that a stream of deliveries does not read the same row for each one (issue 18: that read
    was a fifth of the webhook's CPU).

    Why this is safe:
    - Only a hit *accepts*: a token that is not the remembered current one, the previous token
      within its 24-hour grace, and every refusal read the database as before. A new token works
      at once after a rotation, and a previous token is refused the moment its grace ends.
    - A remembered current token that has just been rotated away is still valid for 24 hours
      as the previous one: accepting it for up to ``ACCEPTED_FOR_SECONDS`` more is what the
      database would answer too (unless it was rotated twice within those seconds).
    - An integration disabled or deleted less than ``ACCEPTED_FOR_SECONDS`` ago may still accept
      a delivery from its own sender, with its right token: the event is recorded, and the worker,
      which reads the integration before any sync, fails it ("the integration is disabled") without
      calling anyone. Turning signatures on likewise takes effect within those seconds. (The
      process that commits such a change forgets its memory at once: webhooks/receiver.py.)
    - Only digests are kept (the row the receiver reads anyway); no secret is held in memory.
    """

    def __init__(self, seconds: float = ACCEPTED_FOR_SECONDS, max_entries: int = ACCEPTED_MAX_ENTRIES) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Any]] = {}

    def get(self, integration_id: str, token: str | None, *, now: float | None = None) -> Any | None:
        """The remembered row if ``token`` is its current token and the memory is fresh."""
        entry = self._entries.get(integration_id)
        if entry is None or not token:
            return None
        until, row = entry
        if (now if now is not None else time.monotonic()) >= until:
            self._entries.pop(integration_id, None)
            return None
        return row if hmac.compare_digest(digest(token), row.webhook_token_digest) else None

    def remember(self, integration_id: str, token: str | None, row: Any, *, now: float | None = None) -> None:
        """Remember ``row`` when ``token`` opened it as its current token, active and not deleted."""
        if not token or row.status != IntegrationStatus.ACTIVE or getattr(row, "deleted_at", None) is not None:
            return
        if not hmac.compare_digest(digest(token), row.webhook_token_digest):
            return
        if len(self._entries) >= self.max_entries:
            try:  # the oldest entry; another thread may change the dict meanwhile
                self._entries.pop(next(iter(self._entries)), None)
            except (RuntimeError, StopIteration):
                pass
        self._entries[integration_id] = ((now if now is not None else time.monotonic()) + self.seconds, row)

    def clear(self) -> None:
        self._entries.clear()
