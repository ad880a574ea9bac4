"""Two rental-system reads the client does not offer yet: a count and a search by name.

Both use the client's own ``ApiClient`` (timeouts, gate, error translation) and its mapping.
``GET /members`` answers ``meta.total_row_count`` (reference current_rms.md §2.2) and takes
Ransack filters such as ``q[name_eq]``.
"""
from __future__ import annotations

from typing import Any, Iterator

from core.models import Organisation
from providers.current_rms import CurrentRMS
from providers.current_rms.mapping import organisation_from_member

#: Members per page of a name search (names are rarely shared by more).
NAME_PAGE = 20
ACTIVE_ORGANISATIONS = {"filtermode": "organisation", "q[active_eq]": "true"}


def count_active(source: CurrentRMS) -> int | None:
    """How many active organisations there are (one call); ``None`` if ``meta`` lacks it."""
    body = _members(source, {**ACTIVE_ORGANISATIONS, "per_page": 1, "page": 1})
    total = (body.get("meta") or {}).get("total_row_count")
    return int(total) if isinstance(total, (int, str)) and str(total).isdigit() else None


def named(source: CurrentRMS, name: str) -> Iterator[Organisation]:
    """Active organisations named exactly ``name`` (first page: a handful at most)."""
    body = _members(source, {**ACTIVE_ORGANISATIONS, "q[name_eq]": name.strip(),
                             "per_page": NAME_PAGE, "page": 1})
    for member in body.get("members") or []:
        if isinstance(member, dict):
            yield organisation_from_member(member)


def _members(source: CurrentRMS, params: dict[str, Any]) -> dict[str, Any]:
    body = source.api.request("GET", "members", params=params).json()
    return body if isinstance(body, dict) else {}
