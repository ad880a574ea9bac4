"""What each accounting system refuses for its length or form, checked before a write.

A value the system would refuse is never truncated silently (interface §11): ``refusal`` names
the field and the limit, and the sync fails with that reason. The one documented mapping rule
is QuickBooks' ``CompanyName``, which carries the first 100 characters of the name (README).

Each system's table is its ``providers/<kind>/limits.py``. Limits come from the official specs in ``tests/specs`` (Xero ``Contact``, ``Address``,
``Phone``; Sage v3.1 ``Contact``, ``Address``, ``ContactPerson``) and, for QuickBooks, which
publishes no spec, from the Intuit Customer entity page (reference §B2).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import import_module
from typing import Mapping

from core.models import ContactFields


@dataclass(frozen=True)
class Limit:
    #: The system's own field name, as the reason shows it.
    target: str
    max_length: int | None = None
    #: A regular expression the whole value must match, and what it means in words.
    pattern: str | None = None
    form: str = ""


def limits(kind: str) -> Mapping[str, Limit]:
    """ContactFields attribute -> the target's limit, from ``providers/<kind>/limits.py``."""
    try:
        table: Mapping[str, Limit] = import_module(f"providers.{kind}.limits").LIMITS
    except ModuleNotFoundError:
        return {}
    return table


def name_length(kind: str) -> int:
    """The longest contact name ``kind`` accepts (for ``on_name_clash: suffix``)."""
    limit = limits(kind)["name"].max_length
    assert limit is not None
    return limit


def refusal(kind: str, fields: ContactFields) -> str | None:
    """Why ``kind`` would refuse ``fields`` (the first field that breaks a limit), or None."""
    for attribute, limit in limits(kind).items():
        value = getattr(fields, attribute).strip()
        reason = check(limit, value, attribute)
        if reason:
            return reason
    return None


def check(limit: Limit, value: str, source: str) -> str | None:
    if limit.max_length is not None and len(value) > limit.max_length:
        return (f"{source} is {len(value)} characters; {limit.target} takes at most "
                f"{limit.max_length}: shorten it in Current RMS (nothing was sent truncated)")
    if limit.pattern is not None and re.fullmatch(limit.pattern, value, re.S) is None:
        return f"{source} {value!r} cannot be written to {limit.target}: {limit.form}"
    return None
