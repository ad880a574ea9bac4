"""The list query of ``GET /members``: paging, ``filtermode`` and the Ransack filters used.

the Current RMS API documentation §2.2: ``page``, ``per_page``, ``filtermode`` and ``q[...]`` filters;
the answer's ``meta`` carries ``total_row_count``, ``row_count``, ``page``, ``per_page``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

from werkzeug.datastructures import MultiDict

from sandbox.current_rms.records import Unprocessable

T = TypeVar("T")

#: ``per_page`` when none is asked (the Zapier sample answers ``"per_page": 20`` [3P]).
DEFAULT_PER_PAGE = 20
#: Largest ``per_page`` served; unconfirmed (reference §2.2), so clients must read ``meta``.
MAX_PER_PAGE = 100
#: ``filtermode`` -> the membership type it keeps (None: every type).
FILTERMODES = {"all": None, "organisation": "Organisation", "contact": "Contact",
               "venue": "Venue", "user": "User"}
_TRUE, _FALSE = ("true", "1", "t"), ("false", "0", "f")


@dataclass(frozen=True)
class MemberQuery:
    """One parsed ``GET /members`` query."""

    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    membership_type: str | None = None
    updated_after: datetime | None = None
    active: bool | None = None
    ids: frozenset[int] | None = None
    name: str | None = None

    @classmethod
    def from_args(cls, args: MultiDict) -> MemberQuery:
        filtermode = args.get("filtermode", "all")
        if filtermode not in FILTERMODES:
            # Unconfirmed: the real API may ignore an unknown mode; refusing it shows the bug.
            raise Unprocessable([f"filtermode {filtermode!r} is not supported"])
        ids = args.getlist("q[id_in][]") + args.getlist("q[id_in]")
        return cls(
            page=max(1, _int(args.get("page"), 1)),
            per_page=min(MAX_PER_PAGE, max(1, _int(args.get("per_page"), DEFAULT_PER_PAGE))),
            membership_type=FILTERMODES[filtermode],
            updated_after=_time(args.get("q[updated_at_gt]")),
            active=_bool(args.get("q[active_eq]")),
            ids=frozenset(_int(i, 0) for i in ids) if ids else None,
            name=args.get("q[name_eq]"),
        )

    def matches(self, member: dict[str, Any]) -> bool:
        if self.membership_type and member["membership_type"] != self.membership_type:
            return False
        if self.active is not None and bool(member["active"]) != self.active:
            return False
        if self.ids is not None and member["id"] not in self.ids:
            return False
        if self.name is not None and member["name"] != self.name:
            return False
        return self.updated_after is None or parse_time(member["updated_at"]) > self.updated_after

    def page_of(self, rows: Sequence[T]) -> Sequence[T]:
        start = (self.page - 1) * self.per_page
        return rows[start:start + self.per_page]


def parse_time(value: str) -> datetime:
    """An ISO 8601 time; a naive one is taken as UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        # Unconfirmed: Ransack may drop a filter it cannot cast; answering every member
        # instead of the changed ones would hide the bug, so the stand-in refuses.
        raise Unprocessable([f"q[updated_at_gt] is not a time: {value!r}"]) from None


def _bool(value: str | None) -> bool | None:
    lowered = (value or "").lower()
    return True if lowered in _TRUE else False if lowered in _FALSE else None


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
