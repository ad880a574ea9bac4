"""``policies.on_name_clash`` (interface §11): ``fail`` (the default) or ``suffix``.

``suffix`` creates the contact as ``<name> (<account number, else #organisation id>)``. The
suffix is what makes the name unique, so when the whole would exceed the system's name length
the organisation's name is shortened, never the suffix (limits: ``providers.field_limits``).
"""
from __future__ import annotations

NAME_CLASH_POLICIES = ("fail", "suffix")
DEFAULT_NAME_CLASH = "fail"


def on_name_clash_of(policies: dict[str, object] | None) -> str:
    value = (policies or {}).get("on_name_clash")
    return value if isinstance(value, str) and value in NAME_CLASH_POLICIES else DEFAULT_NAME_CLASH


def suffix_of(account_number: str, organisation_id: int) -> str:
    number = " ".join(account_number.split())
    return f" ({number})" if number else f" (#{organisation_id})"


def suffixed_name(name: str, *, account_number: str, organisation_id: int, max_length: int) -> str:
    """``<name> (<account number>)``, else ``<name> (#<organisation id>)``, at most
    ``max_length`` characters. An account number too long to leave room for a name falls back
    to the organisation id; the name is cut (and trailing spaces dropped) to make room."""
    base = " ".join(name.split())
    suffix = suffix_of(account_number, organisation_id)
    if len(suffix) >= max_length // 2:
        suffix = suffix_of("", organisation_id)
    if len(suffix) >= max_length:
        raise ValueError(f"a name of at most {max_length} characters cannot carry {suffix!r}")
    room = max_length - len(suffix)
    return base[:room].rstrip() + suffix
