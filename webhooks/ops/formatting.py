"""Small display helpers for the ops templates (plain functions, given to Jinja)."""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from core.models import EventStatus
from core.tables import utcnow
from workers.replay import MANUAL_LINK_PREFIX


def pretty(value: Any) -> str:
    """JSON as an operator reads it: indented, keys in their order, non-ASCII kept."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def ago(value: datetime | None) -> str:
    if value is None:
        return "—"
    return duration((utcnow() - value).total_seconds()) + " ago"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600}h"


def summary(event: Any) -> str:
    """One line saying what happened: the reason, else the action taken."""
    outcome = event.outcome or {}
    if outcome.get("reason"):
        return str(outcome["reason"])
    if outcome.get("action"):
        return f"contact {outcome['action']}" + (f" ({outcome['contact_id']})" if outcome.get("contact_id") else "")
    if event.status == EventStatus.RETRYING and event.last_error:
        return f"will retry: {event.last_error}"
    return ""


#: Where an event came from, by the prefix of its delivery id (webhooks carry Current RMS's own).
ORIGINS = (("poll:", "reconciliation poll"), ("ledger:", "accounting system change"),
           (MANUAL_LINK_PREFIX, "linked by hand"))


def origin(event: Any) -> str:
    """Where the event came from, in words: a webhook, the reconciliation poll, a change seen in
    the accounting system (its ``source``, interface §10), or linking by hand."""
    source = getattr(event, "source", None) or (event.payload or {}).get("source")
    if source == "poll":
        return "reconciliation poll"
    if source == "ledger" or event.kind == "contact_changed":
        return "accounting system change"
    for prefix, words in ORIGINS:
        if (event.source_event_id or "").startswith(prefix):
            return words
    return "webhook"


HELPERS: dict[str, Callable[..., str]] = {"pretty": pretty, "when": when, "ago": ago, "duration": duration, "summary": summary,
           "origin": origin}
