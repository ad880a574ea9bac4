"""Store reads and writes for a whole batch of organisations in one transaction each.

A bulk export touches thousands of organisations; asking the database once per page or batch
instead of once per organisation keeps its own work well below the accounting system's limit
(``bench/bulk_export.py`` prints the split). Per-link writes stay in ``core.store.links.save``.
"""
from __future__ import annotations

from sqlalchemy import select

from core.db import Database
from core.tables import Link


def linked_among(db: Database, integration_id: str, organisation_ids: list[int]) -> set[int]:
    with db.session() as session:
        return set(session.scalars(select(Link.organisation_id).where(
            Link.integration_id == integration_id, Link.organisation_id.in_(organisation_ids))))
