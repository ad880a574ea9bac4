"""Store reads and writes for a whole batch of organisations in one transaction each.

A bulk export touches thousands of organisations; asking the database once per page or batch
instead of once per organisation keeps its own work well below the accounting system's limit
(``bench/bulk_export.py`` prints the split). Per-link writes stay in ``core.store.links.save``.
"""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import select

from core.db import Database
from core.models import Organisation
from core.tables import CreateMarker, Link


def linked_among(db: Database, integration_id: str, organisation_ids: list[int]) -> set[int]:
    with db.session() as session:
        return set(session.scalars(select(Link.organisation_id).where(
            Link.integration_id == integration_id, Link.organisation_id.in_(organisation_ids))))


def marked_among(db: Database, integration_id: str, organisation_ids: list[int]) -> set[int]:
    with db.session() as session:
        return set(session.scalars(select(CreateMarker.organisation_id).where(
            CreateMarker.integration_id == integration_id,
            CreateMarker.organisation_id.in_(organisation_ids))))


def put_markers(db: Database, integration_id: str, organisations: Iterable[Organisation]) -> None:
    """"Create pending" for each, committed together before the batch call (DESIGN step 3)."""
    wanted = {o.id: o.name for o in organisations}
    with db.session() as session:
        present = set(session.scalars(select(CreateMarker.organisation_id).where(
            CreateMarker.integration_id == integration_id,
            CreateMarker.organisation_id.in_(list(wanted)))))
        session.add_all(CreateMarker(integration_id=integration_id, organisation_id=oid, name=name)
                        for oid, name in wanted.items() if oid not in present)
