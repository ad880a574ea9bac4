"""Match review results (interface §11): one row per organisation, replaced by each review."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy import delete, func, select

from core.db import Database
from core.matching import MATCH_KINDS
from core.tables import MatchResult


@dataclass(frozen=True)
class NewResult:
    organisation_id: int
    organisation_name: str
    kind: str
    candidates: list[dict[str, Any]]


def clear(db: Database, integration_id: str) -> None:
    """A new review starts from nothing: results of an earlier one would mislead."""
    with db.session() as session:
        session.execute(delete(MatchResult).where(MatchResult.integration_id == integration_id))


def save_many(db: Database, integration_id: str, job_id: str, results: Iterable[NewResult]) -> int:
    """Store (or replace) the results of a batch of organisations, in one transaction."""
    rows = list(results)
    if not rows:
        return 0
    with db.session() as session:
        session.execute(delete(MatchResult).where(
            MatchResult.integration_id == integration_id,
            MatchResult.organisation_id.in_([r.organisation_id for r in rows]),
        ))
        session.add_all(MatchResult(
            integration_id=integration_id, job_id=job_id, organisation_id=r.organisation_id,
            organisation_name=r.organisation_name[:500], kind=r.kind, candidates=r.candidates,
        ) for r in rows)
    return len(rows)


def listed(db: Database, integration_id: str, kind: str | None = None, *,
           limit: int | None = None) -> list[MatchResult]:
    query = select(MatchResult).where(MatchResult.integration_id == integration_id)
    if kind is not None:
        query = query.where(MatchResult.kind == kind)
    query = query.order_by(MatchResult.organisation_id)
    if limit is not None:
        query = query.limit(limit)
    with db.reading() as session:
        return list(session.scalars(query))


def get(db: Database, integration_id: str, organisation_id: int) -> MatchResult | None:
    with db.reading() as session:
        return session.scalars(select(MatchResult).where(
            MatchResult.integration_id == integration_id,
            MatchResult.organisation_id == organisation_id,
        )).first()


def counts(db: Database, integration_id: str) -> dict[str, int]:
    query = (select(MatchResult.kind, func.count()).where(MatchResult.integration_id == integration_id)
             .group_by(MatchResult.kind))
    with db.reading() as session:
        found = {kind: int(n) for kind, n in session.execute(query)}
    return {kind: found.get(kind, 0) for kind in MATCH_KINDS}


def remove(db: Database, integration_id: str, organisation_ids: Iterable[int]) -> None:
    """Results of organisations now linked are settled: they leave the review."""
    ids = list(organisation_ids)
    if not ids:
        return
    with db.session() as session:
        session.execute(delete(MatchResult).where(
            MatchResult.integration_id == integration_id,
            MatchResult.organisation_id.in_(ids),
        ))
