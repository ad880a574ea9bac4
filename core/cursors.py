"""Page cursors of the admin API: ``<microseconds since 1970>.<id>``, the position after which
the next page starts. Every string of that shape is a valid position (the OpenAPI document
gives the pattern), so a cursor can be refused only for its shape, never for its content."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

PATTERN = r"^[0-9]{1,17}\.[0-9a-f]{1,64}$"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def encode(at: datetime, row_id: str) -> str:
    micros = (at - EPOCH) // timedelta(microseconds=1)
    return f"{micros}.{row_id}"


def decode(cursor: str) -> tuple[datetime, str]:
    """Raises ``ValueError`` for a string that is not a cursor's shape."""
    if not re.fullmatch(PATTERN, cursor):
        raise ValueError("not a cursor")
    micros, row_id = cursor.split(".", 1)
    return EPOCH + timedelta(microseconds=int(micros)), row_id
