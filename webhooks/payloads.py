"""Reading a webhook body: bounded, JSON, not too deep, the required fields right.

Unknown fields, known or not, are kept with the event (interface §4); only ``action.id``,
``action.subject_id`` (JSON integers from 1 to 2^63-1, not booleans) and ``action.subject_type``
(a string) are required.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: Deepest nesting accepted (interface §4).
MAX_DEPTH = 32
MAX_ID = 2**63 - 1
REQUIRED = "Missing data for required field."


class BadPayload(Exception):
    """Raised when a body is not an acceptable webhook; carries the per-field errors."""

    def __init__(self, message: str, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


@dataclass(frozen=True)
class Delivery:
    action_id: int
    subject_id: int
    subject_type: str
    kind: str  #: "create" or "update"
    payload: dict[str, Any]


def parse(raw: bytes) -> Delivery:
    """The delivery in ``raw``; ``BadPayload`` says what is wrong."""
    try:
        payload = json.loads(raw, parse_constant=_not_json)
    except (ValueError, RecursionError):
        raise BadPayload("body is not valid JSON (UTF-8)") from None
    if _may_be_too_deep(raw) and _depth(payload) > MAX_DEPTH:
        raise BadPayload(f"JSON nested deeper than {MAX_DEPTH} levels")
    if not isinstance(payload, dict):
        raise BadPayload("body must be a JSON object", {"action": ["required"]})
    action = payload.get("action")
    if not isinstance(action, dict):
        problem = REQUIRED if "action" not in payload else "must be a JSON object"
        raise BadPayload("invalid webhook body", {"action": [problem]})
    errors = _action_errors(action)
    if errors:
        raise BadPayload("invalid webhook body", {"action": errors})
    kind = "create" if action.get("action_type") == "create" else "update"
    return Delivery(action["id"], action["subject_id"], action["subject_type"], kind, payload)


def _action_errors(action: dict[str, Any]) -> dict[str, list[str]]:
    """Per required field, what is wrong with it (plain checks: this is the webhook's hot
    path, and a schema library costs more than the rest of the parsing together)."""
    errors: dict[str, list[str]] = {}
    for name in ("id", "subject_id"):
        problem = _id_problem(action[name]) if name in action else REQUIRED
        if problem:
            errors[name] = [problem]
    if "subject_type" not in action:
        errors["subject_type"] = [REQUIRED]
    elif not isinstance(action["subject_type"], str):
        errors["subject_type"] = ["must be a string"]
    return errors


def _id_problem(value: Any) -> str | None:
    """A JSON integer from 1 to 2^63-1: not a boolean, not a float, not a string."""
    if isinstance(value, bool) or not isinstance(value, int):
        return "must be a JSON integer"
    if not 1 <= value <= MAX_ID:
        return "must be between 1 and 2^63-1"
    return None


def _not_json(constant: str) -> Any:
    """``NaN`` and ``Infinity`` are read by Python's json module but are not JSON (RFC 8259 §6),
    and PostgreSQL's json type refuses them: a body holding one is invalid, never stored."""
    raise ValueError(f"{constant} is not JSON")


def _may_be_too_deep(raw: bytes) -> bool:
    """Whether the body has more opening brackets than ``MAX_DEPTH``: each level of nesting
    needs one, so a body with fewer is not too deep and needs no walk (a bracket inside a
    string only counts one too many). Counting is C-fast; the walk is Python (issue 18)."""
    return raw.count(b"{") + raw.count(b"[") > MAX_DEPTH


def _depth(value: Any) -> int:
    """Nesting depth, iteratively (a hostile body must not exhaust the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest
