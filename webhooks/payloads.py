"""Reading a webhook body: bounded, JSON, not too deep, the required fields right.

Unknown fields, known or not, are kept with the event (CONTRACT §4); only ``action.id``,
``action.subject_id`` (JSON integers from 1 to 2^63-1, not booleans) and ``action.subject_type``
(a string) are required.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields

#: Deepest nesting accepted (CONTRACT §4).
MAX_DEPTH = 32
MAX_ID = 2**63 - 1


class BadPayload(Exception):
    """Raised when a body is not an acceptable webhook; carries the per-field errors."""

    def __init__(self, message: str, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


class PositiveId(fields.Field):
    """A JSON integer from 1 to 2^63-1: not a boolean, not a float, not a string."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("must be a JSON integer")
        if not 1 <= value <= MAX_ID:
            raise ValidationError("must be between 1 and 2^63-1")
        return value


class ActionSchema(Schema):
    class Meta:
        unknown = INCLUDE

    id = PositiveId(required=True)
    subject_id = PositiveId(required=True)
    subject_type = fields.String(required=True)
    action_type = fields.Raw(load_default=None)


class WebhookSchema(Schema):
    class Meta:
        unknown = INCLUDE

    action = fields.Nested(ActionSchema, required=True)


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
    if _depth(payload) > MAX_DEPTH:
        raise BadPayload(f"JSON nested deeper than {MAX_DEPTH} levels")
    if not isinstance(payload, dict):
        raise BadPayload("body must be a JSON object", {"action": ["required"]})
    try:
        action = WebhookSchema().load(payload)["action"]
    except ValidationError as error:
        raise BadPayload("invalid webhook body", error.normalized_messages()) from None
    kind = "create" if action.get("action_type") == "create" else "update"
    return Delivery(action["id"], action["subject_id"], action["subject_type"], kind, payload)


def _not_json(constant: str) -> Any:
    """``NaN`` and ``Infinity`` are read by Python's json module but are not JSON (RFC 8259 §6),
    and PostgreSQL's json type refuses them: a body holding one is invalid, never stored."""
    raise ValueError(f"{constant} is not JSON")


def _depth(value: Any) -> int:
    """Nesting depth, iteratively (a hostile body must not exhaust the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
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
