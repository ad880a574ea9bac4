"""``GET /Contacts`` filters: ``where``, ``searchTerm``, ``IDs``, ``order`` and ``page``.

The ``where`` language is the subset integrations use (providers.md A1): clauses joined by
``&&`` or ``AND``, each ``Field==""``/``Field!=""`` (optionally ``Field.ToLower()``), or
``Field.Contains("")``/``StartsWith("")``/``EndsWith("")``. Strings are C#-quoted (``\\"``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

#: "Up to 100 contacts will be returned in a single API call" (spec, ``page``).
PAGE_SIZE = 100
#: The spec gives no maximum ``pageSize``: unconfirmed, 1000 is the figure of other endpoints.
MAX_PAGE_SIZE = 1000
#: Fields ``searchTerm`` looks in (spec text).
SEARCHED = ("Name", "FirstName", "LastName", "ContactNumber", "EmailAddress")
QUERYABLE = frozenset({
    "ContactID", "ContactNumber", "AccountNumber", "ContactStatus", "Name", "FirstName",
    "LastName", "CompanyNumber", "EmailAddress", "TaxNumber", "MergedToContactID",
})

_STRING = r'"(?:[^"\\]|\\.)*"'
_CLAUSE = re.compile(
    r"\s*(?P<field>[A-Za-z]+)(?P<lower>\.ToLower\(\))?\s*(?:"
    rf"(?P<op>==|!=)\s*(?P<value>{_STRING}|null)"
    rf"|\.(?P<method>Contains|StartsWith|EndsWith)\(\s*(?P<arg>{_STRING})\s*\))\s*"
)
_JOIN = re.compile(r"\s*(?:&&|\bAND\b)\s*", re.IGNORECASE)

Predicate = Callable[[dict[str, Any]], bool]


class QueryParseError(Exception):
    """Raised for a ``where`` the stand-in cannot read (Xero: 400 QueryParseException)."""


def _unquote(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal[1:-1])


def _value(contact: dict[str, Any], name: str) -> str:
    return str(contact.get(name) or "")


def _clause(match: re.Match[str]) -> Predicate:
    name = match["field"]
    if name not in QUERYABLE:
        raise QueryParseError(f"No property or field '{name}' exists in type 'Contact'")
    if match["op"]:
        wanted = None if match["value"] == "null" else _unquote(match["value"]).casefold()
        equal = (lambda c: not _value(c, name)) if wanted is None else (
            # Xero's where runs on its database, whose string comparison ignores case: observed
            # in integrations, unconfirmed. ToLower() is then a no-op, accepted for clients using it.
            lambda c: _value(c, name).casefold() == wanted
        )
        return equal if match["op"] == "==" else (lambda c: not equal(c))
    needle = _unquote(match["arg"]).casefold()
    method = {"Contains": str.__contains__, "StartsWith": str.startswith, "EndsWith": str.endswith}
    test = method[match["method"]]
    return lambda c: test(_value(c, name).casefold(), needle)


def parse_where(text: str) -> list[Predicate]:
    """The clauses of ``text``, all of which must hold."""
    predicates: list[Predicate] = []
    position = 0
    while True:
        match = _CLAUSE.match(text, position)
        if match is None:
            raise QueryParseError(f"Syntax error in where clause at position {position}")
        predicates.append(_clause(match))
        position = match.end()
        if position == len(text):
            return predicates
        join = _JOIN.match(text, position)
        if join is None or join.end() == position:
            raise QueryParseError(f"Syntax error in where clause at position {position}")
        position = join.end()


def matches_search(contact: dict[str, Any], term: str) -> bool:
    wanted = term.strip().casefold()
    return any(wanted in _value(contact, name).casefold() for name in SEARCHED)


@dataclass(frozen=True)
class ContactQuery:
    """One ``GET /Contacts`` request, read from its query string."""

    where: list[Predicate]
    ids: frozenset[str] | None
    search: str
    include_archived: bool
    order: tuple[str, bool]
    page: int | None
    page_size: int

    @classmethod
    def from_args(cls, args: Any) -> ContactQuery:
        ids = args.get("IDs")
        order = (args.get("order") or "Name ASC").split()
        page, size = args.get("page", ""), args.get("pageSize", "")
        return cls(
            where=parse_where(args["where"]) if args.get("where") else [],
            ids=frozenset(i.strip().lower() for i in ids.split(",") if i.strip()) if ids else None,
            search=args.get("searchTerm", ""),
            include_archived=args.get("includeArchived", "").lower() == "true",
            order=(order[0], len(order) > 1 and order[1].upper() == "DESC"),
            page=max(1, int(page)) if page.isdigit() else None,
            page_size=min(MAX_PAGE_SIZE, max(1, int(size))) if size.isdigit() else PAGE_SIZE,
        )

    def select(self, contacts: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        chosen = [c for c in contacts if self._keeps(c)]
        field, descending = self.order
        return sorted(chosen, key=lambda c: _value(c, field).casefold(), reverse=descending)

    def _keeps(self, contact: dict[str, Any]) -> bool:
        # Archived contacts only with includeArchived=true (spec), whatever else is asked.
        if contact["ContactStatus"] != "ACTIVE" and not self.include_archived:
            return False
        if self.ids is not None and contact["ContactID"] not in self.ids:
            return False
        if self.search and not matches_search(contact, self.search):
            return False
        return all(predicate(contact) for predicate in self.where)

    def paginate(self, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, int] | None]:
        """The rows of the asked page and the ``pagination`` block; every row without ``page``."""
        if self.page is None:
            return rows, None
        start = (self.page - 1) * self.page_size
        count = len(rows)
        pagination = {
            "page": self.page, "pageSize": self.page_size,
            "pageCount": (count + self.page_size - 1) // self.page_size, "itemCount": count,
        }
        return rows[start:start + self.page_size], pagination
