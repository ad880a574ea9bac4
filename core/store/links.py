"""Links (organisation <-> contact, one to one per integration) and "create pending" markers.

A marker (``SentCreate``) records exactly what a create sent, so that a retry after an unknown
outcome finds or replays that create and adopts nothing else (docs/architecture.md, "Invariants").
It names the attempt that sent it: only that attempt may clear it as refused or never sent, so a
later attempt's cleanup (after a killed worker, a lost answer, a lost lock) never erases the
record of a request another attempt sent."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Iterable, Iterator, Mapping, Sequence

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from core.db import Database, rows_matched
from core.models import Contact, ContactFields
from core.tables import Link, SentCreate, utcnow


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
    #: The fields that digest is of, where the writer has them (the ledger poll's echo check).
    fields: ContactFields | None = None


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
                _apply(link, write, now, new=True)
            else:
                _apply(link, write, now, new=False)
            session.flush()
            # A marker means "a create may have happened": the link now answers that.
            session.execute(delete(SentCreate).where(
                SentCreate.integration_id == write.integration_id,
                SentCreate.organisation_id == write.organisation_id,
            ))
        return link
    except IntegrityError:
        other = by_contact(db, write.integration_id, write.contact.id)
        if other is None:
            raise
        raise ContactAlreadyLinked(other) from None


def save_many(db: Database, writes: Sequence[LinkWrite]) -> list[Link | ContactAlreadyLinked]:
    """``save`` for many organisations of one integration in one transaction (a batch create's
    contacts: issue 18 measured a transaction per link at about 2 ms of local work per
    organisation). Each answer is the link, or ``ContactAlreadyLinked`` where ``save`` would
    have raised it: when the unique index refuses any of them, the batch is rolled back and each
    is saved on its own, so one refusal costs only its own link."""
    if not writes:
        return []
    integration_id = writes[0].integration_id
    assert all(w.integration_id == integration_id for w in writes), "one integration per call"
    organisation_ids = [w.organisation_id for w in writes]
    now = utcnow()
    try:
        with db.session() as session:
            existing = {link.organisation_id: link for link in session.scalars(select(Link).where(
                Link.integration_id == integration_id, Link.organisation_id.in_(organisation_ids),
            ))}
            saved = []
            for write in writes:
                link = existing.get(write.organisation_id)
                if link is None:
                    link = existing[write.organisation_id] = Link(
                        integration_id=integration_id, organisation_id=write.organisation_id, linked_at=now)
                    session.add(link)
                    _apply(link, write, now, new=True)
                else:
                    _apply(link, write, now, new=False)
                saved.append(link)
            session.flush()
            session.execute(delete(SentCreate).where(
                SentCreate.integration_id == integration_id, SentCreate.organisation_id.in_(organisation_ids),
            ))
        return list(saved)
    except IntegrityError:
        pass  # some contact is another organisation's: find which, one by one
    answers: list[Link | ContactAlreadyLinked] = []
    for write in writes:
        try:
            answers.append(save(db, write))
        except ContactAlreadyLinked as refused:
            answers.append(refused)
    return answers


def _apply(link: Link, write: LinkWrite, now: datetime, *, new: bool) -> None:
    """What ``save`` sets on the organisation's link (``new``: just added)."""
    if not new and link.contact_id != write.contact.id:
        link.linked_at = now
        # Another contact: whatever made the old one ``broken`` (ledger) is behind us.
        link.status, link.broken_reason = "ok", None
    link.organisation_name = write.organisation_name
    link.contact_id = write.contact.id
    link.contact_name = write.contact.name
    link.url = write.contact.url or link.url
    link.fields_hash = write.fields_hash
    # Only a write's answer says what the contact is as we made it (ledger echo check).
    link.last_written_stamp = write.contact.updated_at if write.fields_hash is not None else None
    known = write.fields is not None and write.fields_hash == write.fields.digest()
    link.written_fields = asdict(write.fields) if known and write.fields is not None else None
    link.last_synced_at = now


def touch(db: Database, link_id: int, **values: object) -> None:
    with db.session() as session:
        link = session.get(Link, link_id)
        if link is not None:
            for key, value in values.items():
                setattr(link, key, value)


def remove(db: Database, integration_id: str, organisation_id: int) -> bool:
    with db.session() as session:
        return bool(rows_matched(session.execute(delete(Link).where(
            Link.integration_id == integration_id, Link.organisation_id == organisation_id,
        ))))


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


@dataclass(frozen=True)
class Marker:
    """What an earlier create sent, whose outcome is not known."""

    organisation_id: int
    name: str
    account_number: str
    #: The idempotency scope sent with it; "" when it cannot be re-sent alone (a batch member,
    #: or a marker older than this record).
    idempotency_key: str
    body_digest: str
    fields: ContactFields | None
    sent_at: datetime
    #: The attempt that sent it ("" for a marker written outside the executor).
    attempt: str = ""


@dataclass(frozen=True)
class Sending:
    """A create about to go out: what the marker will record."""

    organisation_id: int
    fields: ContactFields
    idempotency_key: str
    attempt: str


def put_markers(db: Database, integration_id: str, sending: Iterable[Sending]) -> dict[int, str]:
    """Record each create about to be sent, committed together before the call is made.
    Returns ``{organisation id: attempt}`` of the markers written: those the caller may clear
    (``clear_markers``) if its call certainly made nothing. A marker already there is another
    attempt's record of a request it sent: it is left as it is, and not the caller's to clear."""
    wanted = {s.organisation_id: s for s in sending}
    if not wanted:
        return {}
    with db.session() as session:
        present = set(session.scalars(select(SentCreate.organisation_id).where(
            SentCreate.integration_id == integration_id,
            SentCreate.organisation_id.in_(list(wanted)))))
        written = {oid: s for oid, s in wanted.items() if oid not in present}
        session.add_all(
            SentCreate(integration_id=integration_id, organisation_id=oid, sent=True,
                       name=s.fields.name, account_number=s.fields.account_number,
                       idempotency_key=s.idempotency_key, body_digest=s.fields.digest(),
                       fields=_fields_dict(s.fields), sent_at=utcnow(), attempt=s.attempt)
            for oid, s in written.items()
        )
    return {oid: s.attempt for oid, s in written.items()}


def _fields_dict(fields: ContactFields) -> dict[str, Any]:
    return asdict(fields)


def put_marker(db: Database, integration_id: str, organisation_id: int, name: str) -> None:
    """A marker knowing only the name sent (what a marker of an older version recorded)."""
    with db.session() as session:
        if session.get(SentCreate, (integration_id, organisation_id)) is None:
            session.add(SentCreate(integration_id=integration_id, organisation_id=organisation_id,
                                   sent=True, name=name, account_number="", idempotency_key="",
                                   body_digest="", fields={}, sent_at=utcnow()))


def marker(db: Database, integration_id: str, organisation_id: int) -> Marker | None:
    return markers_of(db, integration_id, [organisation_id]).get(organisation_id)


def markers_of(db: Database, integration_id: str, organisation_ids: list[int]) -> dict[int, Marker]:
    with db.reading() as session:
        rows = list(session.scalars(select(SentCreate).where(
            SentCreate.integration_id == integration_id,
            SentCreate.organisation_id.in_(organisation_ids), SentCreate.sent.is_(True))))
    return {row.organisation_id: Marker(
        organisation_id=row.organisation_id, name=row.name, account_number=row.account_number,
        idempotency_key=row.idempotency_key, body_digest=row.body_digest,
        fields=ContactFields.from_dict(row.fields) if row.fields else None, sent_at=row.sent_at,
        attempt=row.attempt or "",
    ) for row in rows}


def has_marker(db: Database, integration_id: str, organisation_id: int) -> bool:
    return marker(db, integration_id, organisation_id) is not None


def drop_marker(db: Database, integration_id: str, organisation_id: int, *, attempt: str) -> int:
    """``clear_markers`` for one organisation."""
    return clear_markers(db, integration_id, {organisation_id: attempt})


def clear_markers(db: Database, integration_id: str, sent_by: Mapping[int, str]) -> int:
    """The creates ``sent_by`` names (organisation id -> the attempt that sent it) were
    certainly refused or never sent: nothing of theirs can exist. Each marker goes only while
    it is still that attempt's; one written by any other attempt records a request that may
    have landed, and stays. Returns how many went."""
    cleared = 0
    with db.session() as session:
        for organisation_id, attempt in sent_by.items():
            cleared += rows_matched(session.execute(delete(SentCreate).where(
                SentCreate.integration_id == integration_id,
                SentCreate.organisation_id == organisation_id, SentCreate.attempt == attempt,
            )))
    return cleared
