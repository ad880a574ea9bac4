"""The accounting systems' own change stamps, read from their answers as aware UTC datetimes.

One reader per shape, shared by the answer → ``Contact`` mappings (our write's answer: the stamp
stored on the link, ``links.last_written_stamp``) and the ledger's change modules (the stamp a
webhook or the poll reports), so that both sides of the echo comparison are parsed alike.

- ISO 8601 (QuickBooks ``MetaData.LastUpdatedTime`` and a notification's ``lastUpdated``, Sage
  ``updated_at``, Xero's ``eventDateUtc``): a naive time is UTC.
- Xero's ``/Date(<ms since the epoch>+0000)/`` (``UpdatedDateUTC``).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

_MSDATE = re.compile(r"/Date\((-?\d+)")


def iso(raw: Any) -> datetime | None:
    """An ISO 8601 time (``Z`` or an offset, with or without a colon); ``None`` if unreadable."""
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def msdate(raw: Any) -> datetime | None:
    """Xero's ``/Date(1498007739902+0000)/`` as an aware datetime, to the millisecond."""
    match = _MSDATE.match(str(raw or ""))
    return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=timezone.utc) if match else None
