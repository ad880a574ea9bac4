"""Matching an organisation to existing contacts (interface §11, ``policies.match_on``).

Pure: no I/O. The provider-specific look-ups (``providers/<kind>/search.py``) turn each
system's rows into ``Candidate`` values; this module decides what they mean.

- Keys compare as interface §11 says: names trimmed and case-insensitive, e-mails
  case-insensitive, tax and account numbers ignoring spaces and punctuation.
- ``find_match`` is the live rule: the first key of ``match_on`` that finds exactly one active,
  unlinked contact links it; a key that finds several fails naming them (never a guess); a key
  that finds only contacts linked to other organisations fails naming both organisations.
- ``classify`` is the review rule: ``full`` is exactly one candidate agreeing on every key of
  ``match_on`` for which the organisation has a value; ``partial``, candidates agreeing on some.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable, Literal, Mapping, Sequence, Union

from core.models import ContactFields, Organisation

MatchKey = Literal["name", "email", "account_number", "tax_number"]
MATCH_KEYS: tuple[MatchKey, ...] = ("name", "email", "account_number", "tax_number")
DEFAULT_MATCH_ON: tuple[MatchKey, ...] = ("name",)
MatchKind = Literal["full", "partial", "none"]
MATCH_KINDS: tuple[MatchKind, ...] = ("full", "partial", "none")

#: Everything that is not a letter or a digit: spaces, dots, dashes, slashes...
_NOT_ALNUM = re.compile(r"[\W_]+", re.UNICODE)


def normalise(key: str, value: str | None) -> str:
    """The comparable form of ``value`` under ``key``; ``""`` means "no value"."""
    text = unicodedata.normalize("NFKC", value or "")
    if key in ("name", "email"):
        return text.strip().casefold()
    if key in ("account_number", "tax_number"):
        return _NOT_ALNUM.sub("", text).casefold()
    raise ValueError(f"unknown match key {key!r}; one of {', '.join(MATCH_KEYS)}")


def valid_match_on(value: object) -> list[str]:
    """Why ``value`` is not a valid ``policies.match_on`` (empty list: it is)."""
    if not isinstance(value, list) or not value:
        return ["must be a non-empty list of " + ", ".join(MATCH_KEYS)]
    problems = [f"unknown key {key!r}" for key in value if key not in MATCH_KEYS]
    if len(set(map(str, value))) != len(value):
        problems.append("a key is named twice")
    return problems


def match_on_of(policies: Mapping[str, object] | None) -> tuple[MatchKey, ...]:
    """``policies.match_on`` as stored, defaulting to ``["name"]``; unknown keys dropped."""
    raw = (policies or {}).get("match_on")
    if not isinstance(raw, (list, tuple)) or not raw:
        return DEFAULT_MATCH_ON
    keys = tuple(k for k in dict.fromkeys(raw) if k in MATCH_KEYS)
    return keys or DEFAULT_MATCH_ON


@dataclass(frozen=True)
class Candidate:
    """An accounting-system contact as matching sees it."""

    id: str
    name: str
    email: str = ""
    account_number: str = ""
    tax_number: str = ""
    url: str | None = None
    active: bool = True

    def value(self, key: str) -> str:
        return normalise(key, getattr(self, key))

    def describe(self) -> str:
        link = f" {self.url}" if self.url else ""
        return f"'{self.name}' ({self.id}{link})"


@dataclass(frozen=True)
class Subject:
    """The organisation side of a match: its id, name and the key values it has."""

    organisation_id: int
    name: str
    email: str = ""
    account_number: str = ""
    tax_number: str = ""

    @classmethod
    def of(cls, organisation: Organisation) -> Subject:
        return cls.from_fields(organisation.id, organisation.fields)

    @classmethod
    def from_fields(cls, organisation_id: int, fields: ContactFields) -> Subject:
        return cls(organisation_id=organisation_id, name=fields.name, email=fields.email,
                   account_number=fields.account_number, tax_number=fields.tax_number)

    def value(self, key: str) -> str:
        return normalise(key, getattr(self, key))

    def keys_with_values(self, match_on: Sequence[str]) -> list[str]:
        return [key for key in match_on if self.value(key)]


def agreeing_keys(subject: Subject, candidate: Candidate, match_on: Sequence[str]) -> list[str]:
    """The keys of ``match_on`` (in its order) on which both have the same, non-empty value."""
    return [k for k in match_on if subject.value(k) and subject.value(k) == candidate.value(k)]


# -- live matching ----------------------------------------------------------------------
@dataclass(frozen=True)
class ExactlyOne:
    candidate: Candidate
    key: str


@dataclass(frozen=True)
class Several:
    key: str
    candidates: tuple[Candidate, ...]

    def reason(self, subject: Subject) -> str:
        named = "; ".join(c.describe() for c in self.candidates)
        return (f"{len(self.candidates)} contacts match organisation {subject.organisation_id} "
                f"'{subject.name}' on {self.key}: {named}; link one by hand")


def several_named(name: str, candidates: Sequence[Candidate]) -> str:
    """Why a name several contacts carry is not resolved to one (a look-up by name alone: Sage's,
    or the bulk export's name index)."""
    named = "; ".join(c.describe() for c in candidates)
    return f"{len(candidates)} contacts are named '{name.strip()}': {named}; link one by hand"


@dataclass(frozen=True)
class LinkedElsewhere:
    key: str
    candidate: Candidate
    organisation_id: int

    def reason(self, subject: Subject) -> str:
        return (f"contact {self.candidate.describe()} matches on {self.key} but is already "
                f"linked to organisation {self.organisation_id}; organisation "
                f"{subject.organisation_id} '{subject.name}' cannot be linked to it too")


@dataclass(frozen=True)
class NoMatch:
    pass


MatchResult = Union[ExactlyOne, Several, LinkedElsewhere, NoMatch]


def find_match(
    organisation: Organisation | Subject,
    candidates: Iterable[Candidate],
    match_on: Sequence[str],
    linked_contact_ids: Mapping[str, int],
) -> MatchResult:
    """The live rule (interface §11). ``linked_contact_ids`` maps a contact id to the
    organisation it is linked to; a contact linked to this very organisation counts as free."""
    subject = organisation if isinstance(organisation, Subject) else Subject.of(organisation)
    pool = [c for c in dict((c.id, c) for c in candidates).values() if c.active]
    for key in match_on:
        wanted = subject.value(key)
        if not wanted:
            continue
        hits = [c for c in pool if c.value(key) == wanted]
        free = [c for c in hits
                if linked_contact_ids.get(c.id) in (None, subject.organisation_id)]
        if len(free) == 1:
            return ExactlyOne(free[0], key)
        if len(free) > 1:
            return Several(key, tuple(free))
        if hits:
            first = hits[0]
            return LinkedElsewhere(key, first, linked_contact_ids[first.id])
    return NoMatch()


# -- review -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Scored:
    candidate: Candidate
    matched_on: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {"contact_id": self.candidate.id, "name": self.candidate.name,
                "url": self.candidate.url, "matched_on": list(self.matched_on)}


@dataclass(frozen=True)
class Review:
    kind: MatchKind
    candidates: tuple[Scored, ...] = field(default_factory=tuple)


def classify(
    subject: Subject,
    candidates: Iterable[Candidate],
    match_on: Sequence[str],
    linked_contact_ids: Mapping[str, int] | None = None,
) -> Review:
    """Full / partial / none for the review (interface §11). Contacts linked to another
    organisation, and inactive ones, are never offered."""
    linked = linked_contact_ids or {}
    wanted = subject.keys_with_values(match_on)
    scored = [
        Scored(c, tuple(keys))
        for c in dict((c.id, c) for c in candidates).values()
        if c.active and linked.get(c.id) in (None, subject.organisation_id)
        and (keys := agreeing_keys(subject, c, match_on))
    ]
    if not scored:
        return Review("none")
    scored.sort(key=lambda s: (-len(s.matched_on), s.candidate.name.casefold(), s.candidate.id))
    full = [s for s in scored if wanted and list(s.matched_on) == wanted]
    if len(full) == 1:
        return Review("full", (full[0],))
    return Review("partial", tuple(scored))
