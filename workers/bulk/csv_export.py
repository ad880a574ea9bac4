"""The links CSV export: every active organisation, with its link where it has one.

Streamed: organisations come from the rental system one page at a time and the links of each
page are read in one query, so 100,000 rows take the memory of one page.
"""
from __future__ import annotations

from itertools import islice
from typing import Iterator

from sqlalchemy import select

from core.db import Database
from core.models import Organisation
from core.tables import Link
from providers.current_rms import CurrentRMS

#: Organisations whose links are read in one query (the rental system's page size).
CHUNK = 100


def link_rows(source: CurrentRMS, db: Database, integration_id: str
              ) -> Iterator[tuple[int, str, str]]:
    """(organisation id, name, contact id or "") for each active organisation."""
    organisations = (o for o in source.iter_organisations() if o.is_organisation)
    while True:
        chunk: list[Organisation] = list(islice(organisations, CHUNK))
        if not chunk:
            return
        contacts = contact_ids(db, integration_id, [o.id for o in chunk])
        for organisation in chunk:
            yield organisation.id, organisation.name, contacts.get(organisation.id, "")


def contact_ids(db: Database, integration_id: str, organisation_ids: list[int]) -> dict[int, str]:
    query = select(Link.organisation_id, Link.contact_id).where(
        Link.integration_id == integration_id, Link.organisation_id.in_(organisation_ids))
    with db.reading() as session:  # a read: never SQLite's write lock
        return {organisation_id: contact_id for organisation_id, contact_id in session.execute(query)}
