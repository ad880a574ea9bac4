"""Hypothesis strategies for hostile bodies: any JSON (unicode, huge integers, long strings,
nesting near the 32-level bound), webhook-shaped bodies, and admin bodies derived from the
marshmallow schemas of ``webhooks.schemas`` (the same schemas the OpenAPI document describes).
"""
from __future__ import annotations

import json
from datetime import timezone
from typing import Any

from hypothesis import strategies as st
from marshmallow import Schema, fields, validate

#: Past the largest id the contract accepts (2^63-1), and past 64 bits.
HUGE_INTS = st.integers(min_value=2**63 - 3, max_value=2**80) | st.integers(max_value=-(2**63) + 3)
SCALARS = (
    st.none() | st.booleans() | st.integers() | HUGE_INTS
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
)
#: Long strings without building megabytes for every example: one character repeated.
LONG_TEXT = st.builds(lambda c, n: c * n, st.characters(), st.integers(min_value=1000, max_value=200_000))
JSON_VALUES = st.recursive(
    SCALARS | LONG_TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4),
    max_leaves=15,
)
CONTENT_TYPES = st.sampled_from([
    None, "application/json", "application/json; charset=utf-8", "application/vnd.api+json",
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "",
    "text/csv",
])


def nested(value: Any, depth: int, use_lists: bool) -> Any:
    for _ in range(depth):
        value = [value] if use_lists else {"n": value}
    return value


def deep(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``inner`` wrapped 25 to 40 levels deep (the bound is 32)."""
    return st.builds(nested, inner, st.integers(min_value=25, max_value=40), st.booleans())


ID_VALUES = (st.integers(min_value=1, max_value=2**63 - 1) | st.integers() | HUGE_INTS | st.booleans()
             | st.floats() | st.text(max_size=8) | st.none())
ACTION = st.fixed_dictionaries({}, optional={
    "id": ID_VALUES, "subject_id": ID_VALUES,
    "subject_type": st.sampled_from(["Member", "Opportunity", ""]) | JSON_VALUES,
    "action_type": st.sampled_from(["create", "update", "destroy"]) | JSON_VALUES,
    "name": JSON_VALUES,
})
WEBHOOK_SHAPED = st.builds(
    lambda action, extra: {**extra, "action": action},
    ACTION | JSON_VALUES, st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=3),
)


def encoded(value: Any) -> bytes:
    """JSON text of ``value``; NaN and Infinity pass through as Python writes them (not JSON)."""
    return json.dumps(value).encode("utf-8", "surrogatepass")


RAW_BODIES = (
    st.binary(max_size=300)
    | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass"))
    | st.sampled_from([b"", b"{", b"[]", b"null", b"NaN", b'{"action": NaN}', b'{"a": Infinity}',
                       b"\xef\xbb\xbf{}", b'{"action": {"id": 1e400}}', b"1" * 5000])
)

# --- bodies from the marshmallow schemas -------------------------------------------------------


def schema_bodies(schema: Schema, urls: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts shaped by ``schema``: each declared field present or not, with a plausible value or
    any JSON at all, plus now and then a key the schema does not know."""
    optional = {name: field_values(field, urls) for name, field in schema.fields.items()}
    known = st.fixed_dictionaries({}, optional=optional)
    unknown = st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=1)
    return st.builds(lambda a, b: {**b, **a}, known, unknown)


def field_values(field: fields.Field, urls: list[str]) -> st.SearchStrategy[Any]:
    return _plausible(field, urls) | JSON_VALUES


def _plausible(field: fields.Field, urls: list[str]) -> st.SearchStrategy[Any]:
    if isinstance(field, fields.Nested):
        return schema_bodies(field.schema, urls)
    if isinstance(field, fields.Url):
        # Loopback stand-ins only (an admin-given URL is called), and URLs that must be refused.
        return st.sampled_from(urls + ["javascript:alert(1)", "file:///etc/passwd", "ftp://x/y", "//x", "http://"])
    if isinstance(field, fields.Boolean):
        return st.booleans()
    if isinstance(field, fields.Integer):
        return st.integers(min_value=-5, max_value=50) | HUGE_INTS
    if isinstance(field, fields.DateTime):
        return st.datetimes(timezones=st.none() | st.just(timezone.utc)).map(lambda d: d.isoformat())
    if isinstance(field, fields.Dict):
        values = field.value_field if field.value_field is not None else fields.Raw()
        keys = st.sampled_from(["xero", "quickbooks", "sage", "current_rms"]) | st.text(max_size=8)
        return st.dictionaries(keys, _plausible(values, urls) | JSON_VALUES, max_size=3)
    if isinstance(field, fields.String):
        return _strings(field)
    return JSON_VALUES


def _strings(field: fields.Field) -> st.SearchStrategy[str]:
    for validator in field.validators:
        if isinstance(validator, validate.OneOf):
            return st.sampled_from(list(validator.choices)) | st.text(max_size=10)
        if isinstance(validator, validate.Regexp):
            return st.from_regex(validator.regex, fullmatch=True) | st.text(max_size=10)
    return st.text(min_size=1, max_size=60) | LONG_TEXT
