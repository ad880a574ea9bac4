"""Organisation names for the ops page's event lists: the name stored with the link (the
rental system's own, refreshed by each sync), so a list says "Create of The Festival Of
Testing", not "organisation 205101"."""
from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import select

from core.db import Database
from core.tables import Link


def organisation_names(db: Database, rows: Iterable[Any]) -> dict[tuple[str, int], str]:
    """By (integration, organisation): the linked name, else the name an event's outcome
    recorded (``outcome.organisation_name``, where the sync writes one)."""
    rows = list(rows)
    recorded = {(row.integration_id, row.organisation_id): (row.outcome or {}).get("organisation_name")
                for row in rows if row.organisation_id is not None}
    wanted = set(recorded)
    if not wanted:
        return {}
    integration_ids = {integration_id for integration_id, _ in wanted}
    organisation_ids = {organisation_id for _, organisation_id in wanted}
    with db.reading() as session:
        found = session.execute(
            select(Link.integration_id, Link.organisation_id, Link.organisation_name).where(
                Link.integration_id.in_(integration_ids), Link.organisation_id.in_(organisation_ids))
        ).all()
    linked = {(i, o): name for i, o, name in found if (i, o) in wanted and name}
    return {**{key: name for key, name in recorded.items() if name}, **linked}
