"""Links (organisation <-> contact, one to one per integration) and "create pending" markers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from core.db import Database
from core.models import Contact
from core.tables import CreateMarker, Link, utcnow


class ContactAlreadyLinked(Exception):
    """Raised when the contact is linked to another organisation of the integration."""

    def __init__(self, link: Link) -> None:
        super().__init__(f"contact {link.contact_id} is linked to organisation {link.organisation_id}")
        self.link = link


@dataclass(frozen=True)
class LinkWrite:
    integration_id: str
    organisation_id: int
    organisation_name: str
    contact: Contact
    #: Digest of the fields written (None when linked without writing).
    fields_hash: str | None


def get(db: Database, integration_id: str, organisation_id: int) -> Link | None:
    with db.reading() as session:
        return session.scalars(select(Link).where(
            Link.integration_id == integration_id, Link.organisation_id == organisation_id,
        )).first()


def by_contact(db: Database, integration_id: str, contact_id: str) -> Link | None:
    with db.reading() as session:
        return session.scalars(select(Link).where(
            Link.integration_id == integration_id, Link.contact_id == contact_id,
        )).first()


def save(db: Database, write: LinkWrite) -> Link:
    """Create or update the organisation's link; ``ContactAlreadyLinked`` if the contact is
    another organisation's (the unique index decides, so two racing writers cannot both win)."""
    now = utcnow()
    try:
        with db.session() as session:
            link = session.scalars(select(Link).where(
                Link.integration_id == write.integration_id,
                Link.organisation_id == write.organisation_id,
            )).first()
            if link is None:
                link = Link(integration_id=write.integration_id,
                            organisation_id=write.organisation_id, linked_at=now)
                session.add(link)
            elif link.contact_id != write.contact.id:
                link.linked_at = now
                # Another contact: whatever made the old one ``broken`` (ledger) is behind us.
                link.status, link.broken_reason = "ok", None
            link.organisation_name = write.organisation_name
            link.contact_id = write.contact.id
            link.contact_name = write.contact.name
            link.url = write.contact.url or link.url
            link.fields_hash = write.fields_hash
            link.last_synced_at = now
            session.flush()
            # A marker means "a create may have happened": the link now answers that.
            session.execute(delete(CreateMarker).where(
                CreateMarker.integration_id == write.integration_id,
                CreateMarker.organisation_id == write.organisation_id,
            ))
        return link
    except IntegrityError:
        other = by_contact(db, write.integration_id, write.contact.id)
        if other is None:
            raise
        raise ContactAlreadyLinked(other) from None


def touch(db: Database, link_id: int, **values: object) -> None:
    with db.session() as session:
        link = session.get(Link, link_id)
        if link is not None:
            for key, value in values.items():
                setattr(link, key, value)


def remove(db: Database, integration_id: str, organisation_id: int) -> bool:
    with db.session() as session:
        return bool(session.execute(delete(Link).where(
            Link.integration_id == integration_id, Link.organisation_id == organisation_id,
        )).rowcount)


def all_of(db: Database, integration_id: str, organisation_id: int | None = None) -> list[Link]:
    query = select(Link).where(Link.integration_id == integration_id)
    if organisation_id is not None:
        query = query.where(Link.organisation_id == organisation_id)
    with db.reading() as session:
        return list(session.scalars(query.order_by(Link.organisation_id)))


def contact_ids_by_organisation(db: Database, integration_id: str) -> dict[int, str]:
    query = select(Link.organisation_id, Link.contact_id).where(Link.integration_id == integration_id)
    with db.reading() as session:
        # Rows unpack as tuples (``Result.tuples()`` is deprecated and broken in SQLAlchemy 2.1).
        return {organisation_id: contact_id for organisation_id, contact_id in session.execute(query)}


def iter_all(db: Database, integration_id: str, *, batch: int = 1000) -> Iterator[Link]:
    after = -1
    while True:
        with db.session() as session:
            rows = list(session.scalars(
                select(Link).where(Link.integration_id == integration_id, Link.organisation_id > after)
                .order_by(Link.organisation_id).limit(batch)
            ))
        if not rows:
            return
        yield from rows
        after = rows[-1].organisation_id


def put_marker(db: Database, integration_id: str, organisation_id: int, name: str) -> None:
    """Record "create pending" before a create call (committed before the call is made)."""
    with db.session() as session:
        marker = session.get(CreateMarker, (integration_id, organisation_id))
        if marker is None:
            session.add(CreateMarker(integration_id=integration_id,
                                     organisation_id=organisation_id, name=name))


def has_marker(db: Database, integration_id: str, organisation_id: int) -> bool:
    with db.reading() as session:
        return session.get(CreateMarker, (integration_id, organisation_id)) is not None


def drop_marker(db: Database, integration_id: str, organisation_id: int) -> None:
    with db.session() as session:
        session.execute(delete(CreateMarker).where(
            CreateMarker.integration_id == integration_id,
            CreateMarker.organisation_id == organisation_id,
        ))
