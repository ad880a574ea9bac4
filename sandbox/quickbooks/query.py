"""The subset of the QuickBooks query language the stand-in understands (providers.md §B1).

``SELECT * | COUNT(*) FROM <Entity> [WHERE cond AND cond …] [ORDERBY field [ASC|DESC]]
[STARTPOSITION n] [MAXRESULTS n]`` where ``cond`` is ``field = value``, ``field LIKE '%x%'``,
``field IN (v, …)`` or a comparison. Strings are single-quoted with ``\\'`` and ``\\\\`` escapes
(python-quickbooks #319). Anything else is a parse error, which the API answers with Fault 4000.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sandbox.quickbooks import faults

#: Name-list entities, and the lookups a client reads to fill a new customer's references
#: (``Preferences``: the company's one settings object, ``CurrencyPrefs`` among them).
LOOKUPS = ("Term", "CompanyCurrency", "Preferences")
ENTITIES = ("Customer", "Vendor", "Employee", *LOOKUPS)
#: QuickBooks pages 100 rows unless told otherwise.
DEFAULT_MAX_RESULTS = 100
#: Observed in client code, unconfirmed in the docs (§B1); larger values are capped, not refused.
MAX_RESULTS_CAP = 1000
OPERATORS = ("=", "!=", "<", ">", "<=", ">=", "LIKE", "IN")

_TOKEN = re.compile(
    r"""\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<number>-?\d+)|(?P<word>[A-Za-z_][\w.]*)
    |(?P<op><=|>=|!=|=|<|>)|(?P<punct>[(),*]))""",
    re.X,
)


@dataclass(frozen=True)
class Condition:
    field: str
    operator: str
    value: Any


@dataclass
class Query:
    entity: str
    count: bool = False
    conditions: list[Condition] = field(default_factory=list)
    order_by: str = "Id"
    descending: bool = False
    start: int = 1
    max_results: int = DEFAULT_MAX_RESULTS

    def mentions(self, name: str) -> bool:
        return any(c.field.lower() == name.lower() for c in self.conditions)


def tokenize(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            snippet = text[position:position + 20]
            raise faults.parse_error(f"unexpected text at position {position}: {snippet!r}")
        kind = match.lastgroup or ""
        raw = match.group(kind)
        if kind == "string":
            tokens.append(("string", re.sub(r"\\(.)", r"\1", raw[1:-1], flags=re.S)))
        elif kind == "number":
            tokens.append(("number", int(raw)))
        else:
            tokens.append((kind, raw))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, Any]]) -> None:
        self.tokens = tokens
        self.index = 0

    def peek_word(self) -> str:
        if self.index < len(self.tokens) and self.tokens[self.index][0] == "word":
            return str(self.tokens[self.index][1]).upper()
        return ""

    def take(self, kind: str, value: str | None = None) -> Any:
        if self.index >= len(self.tokens):
            raise faults.parse_error(f"unexpected end of query, expected {value or kind}")
        token_kind, token_value = self.tokens[self.index]
        matches_value = value is None or str(token_value).upper() == value.upper()
        if token_kind != kind or not matches_value:
            raise faults.parse_error(f"expected {value or kind}, found {token_value!r}")
        self.index += 1
        return token_value

    def keyword(self, word: str) -> bool:
        if self.peek_word() == word:
            self.index += 1
            return True
        return False

    def done(self) -> bool:
        return self.index >= len(self.tokens)


def parse(text: str) -> Query:
    """The query, or ``FaultError`` 4000."""
    parser = _Parser(tokenize(text))
    parser.take("word", "SELECT")
    count = _projection(parser)
    parser.take("word", "FROM")
    entity = _entity(parser.take("word"))
    query = Query(entity=entity, count=count)
    if parser.keyword("WHERE"):
        query.conditions.append(_condition(parser))
        while parser.keyword("AND"):
            query.conditions.append(_condition(parser))
    _clauses(parser, query)
    if not parser.done():
        raise faults.parse_error(f"unexpected {parser.tokens[parser.index][1]!r}")
    return query


def _projection(parser: _Parser) -> bool:
    if parser.index < len(parser.tokens) and parser.tokens[parser.index] == ("punct", "*"):
        parser.index += 1
        return False
    parser.take("word", "COUNT")
    for symbol in ("(", "*", ")"):
        parser.take("punct", symbol)
    return True


def _entity(name: str) -> str:
    for entity in ENTITIES:
        if entity.lower() == name.lower():
            return entity
    raise faults.parse_error(f"unknown entity {name!r}")


def _condition(parser: _Parser) -> Condition:
    name = parser.take("word")
    word = parser.peek_word()
    if word in ("LIKE", "IN"):
        parser.index += 1
        operator = word
    else:
        operator = parser.take("op")
    if operator == "IN":
        return Condition(name, operator, _list(parser))
    value = _value(parser)
    if operator == "LIKE" and not isinstance(value, str):
        raise faults.parse_error("LIKE needs a quoted pattern")
    return Condition(name, operator, value)


def _list(parser: _Parser) -> list[Any]:
    parser.take("punct", "(")
    values = [_value(parser)]
    while parser.tokens[parser.index:parser.index + 1] == [("punct", ",")]:
        parser.index += 1
        values.append(_value(parser))
    parser.take("punct", ")")
    return values


def _value(parser: _Parser) -> Any:
    if parser.done():
        raise faults.parse_error("unexpected end of query, expected a value")
    kind, value = parser.tokens[parser.index]
    parser.index += 1
    if kind in ("string", "number"):
        return value
    if kind == "word" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise faults.parse_error(f"expected a value, found {value!r}")


def _clauses(parser: _Parser, query: Query) -> None:
    if parser.keyword("ORDERBY"):
        query.order_by = parser.take("word")
        if parser.keyword("DESC"):
            query.descending = True
        else:
            parser.keyword("ASC")
    if parser.keyword("STARTPOSITION"):
        query.start = max(1, parser.take("number"))
    if parser.keyword("MAXRESULTS"):
        query.max_results = min(MAX_RESULTS_CAP, max(1, parser.take("number")))


# -- evaluation ---------------------------------------------------------------------------
def matches(record: dict[str, Any], condition: Condition) -> bool:
    actual = _field(record, condition.field)
    if condition.operator == "LIKE":
        return isinstance(actual, str) and _like(condition.value).fullmatch(actual) is not None
    if condition.operator == "IN":
        return any(_compare(actual, "=", value) for value in condition.value)
    return _compare(actual, condition.operator, condition.value)


def run(query: Query, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of ``records`` the query selects, ordered and paged (before COUNT)."""
    selected = [r for r in records if all(matches(r, c) for c in query.conditions)]
    if not query.mentions("Active"):
        # "SELECT * FROM Customer" returns active customers only (§B1, Intuit blog 2017/02/08).
        selected = [r for r in selected if r.get("Active", True)]
    selected.sort(key=lambda r: _sort_key(_field(r, query.order_by)), reverse=query.descending)
    return selected


def page(query: Query, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return rows[query.start - 1:query.start - 1 + query.max_results]


def _field(record: dict[str, Any], name: str) -> Any:
    value: Any = record
    for part in name.split("."):
        if not isinstance(value, dict):
            return None
        value = next((v for k, v in value.items() if k.lower() == part.lower()), None)
    # An EmailAddress-typed field (``PrimaryEmailAddr``) is filtered by its address, as the real
    # query does for ``where PrimaryEmailAddr = 'a@b.example'``.
    if isinstance(value, dict) and "Address" in value:
        return value["Address"]
    return value


def _like(pattern: str) -> re.Pattern[str]:
    # QuickBooks LIKE knows only '%'; name matching is case-insensitive.
    return re.compile(".*".join(re.escape(part) for part in pattern.split("%")), re.I | re.S)


def _compare(actual: Any, operator: str, expected: Any) -> bool:
    if actual is None:
        return False
    left, right = _sort_key(actual), _sort_key(expected)
    if left[0] != right[0]:  # a string against a number: compare as text
        left, right = str(actual).casefold(), str(expected).casefold()
    return {
        "=": left == right, "!=": left != right, "<": left < right,
        ">": left > right, "<=": left <= right, ">=": left >= right,
    }[operator]


def _sort_key(value: Any) -> Any:
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return (1, int(value))
    return (2, str(value or "").casefold())
