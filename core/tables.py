"""The database tables (SQLAlchemy 2 declarative). Alembic migrations mirror these.

The database, not Redis, is the record of what is owed: an event row is committed before the
webhook is answered, and its status says whether a worker still has to run it.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.models import IntegrationStatus, JobStatus


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_id() -> str:
    """A random 128-bit id in 32 hex digits (the form ``uuid4().hex`` gave, at a quarter of its
    cost: every delivery makes one)."""
    return secrets.token_hex(16)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: the same on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=timezone.utc) if value is not None else None


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Integration(Base):
    __tablename__ = "integrations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default=IntegrationStatus.ACTIVE.value)
    status_reason: Mapped[str | None] = mapped_column(Text)
    provider_kind: Mapped[str] = mapped_column(String(20))
    source_subdomain: Mapped[str] = mapped_column(String(100))
    #: Non-secret settings: source api_url, provider api_url/token_url, tenant, short code...
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Fernet-sealed JSON: API key, OAuth client secret and tokens, signing secret.
    sealed_secrets: Mapped[str | None] = mapped_column(Text)
    policies: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    webhook_token_digest: Mapped[str] = mapped_column(String(64))
    previous_token_digest: Mapped[str | None] = mapped_column(String(64))
    previous_token_valid_until: Mapped[datetime | None]
    webhook_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    webhooks_registered: Mapped[bool] = mapped_column(Boolean, default=False)
    webhook_error: Mapped[str | None] = mapped_column(Text)
    #: Reconciliation poll: organisations updated after this were not yet polled.
    poll_watermark: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None]


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("integration_id", "source_event_id", name="uq_events_source"),
        # The event lists' order (received_at, id) and, covering, the ops page's count of the
        # last day's events by integration and status: one index for both, as each costs every
        # delivery's INSERT a write (issue 18).
        Index("ix_events_received", "received_at", "id", "integration_id", "status"),
        # Also the integration's own look-ups (its prefix): no index on integration_id alone.
        Index("ix_events_organisation", "integration_id", "organisation_id"),
        Index("ix_events_due", "status", "next_attempt_at"),
        # Only ledger events name a contact: a webhook's INSERT writes nothing to this index.
        Index("ix_events_contact", "integration_id", "contact_id",
              sqlite_where=text("contact_id IS NOT NULL"), postgresql_where=text("contact_id IS NOT NULL")),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    integration_id: Mapped[str] = mapped_column(ForeignKey("integrations.id"))
    source_event_id: Mapped[str] = mapped_column(String(120))
    organisation_id: Mapped[int | None] = mapped_column(BigInteger)
    subject_type: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: A replay writes the contact even when nothing changed.
    force_write: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    #: When a retrying event is due again.
    next_attempt_at: Mapped[datetime | None]
    #: First transient failure of the current run: retries give up 24 hours after it.
    first_failure_at: Mapped[datetime | None]
    #: Outbox: when the broker was last handed a message for this event (None: not yet).
    sent_at: Mapped[datetime | None]
    message_id: Mapped[str | None] = mapped_column(String(64))
    #: A worker's claim on a processing event; past it, the event is owed again.
    lease_until: Mapped[datetime | None]
    #: The process holding that lease (``core.holders``): a peer on its host puts the event
    #: back at once when that process is gone, without waiting for ``lease_until``.
    lease_holder: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: A failed event resolved by a person (interface §6).
    resolved_at: Mapped[datetime | None]
    resolved_note: Mapped[str | None] = mapped_column(Text)
    #: Where the event came from: the rental system's webhook (``current_rms``), the
    #: reconciliation poll (``poll``) or the accounting system itself (``ledger``: its webhooks
    #: and the ledger poll).
    source: Mapped[str] = mapped_column(String(20), default="current_rms", server_default="current_rms")
    #: A ledger event's contact: the events about one contact are found by an index, not a scan.
    contact_id: Mapped[str | None] = mapped_column(String(64))


class EventAttempt(Base):
    __tablename__ = "event_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)


class Link(Base):
    __tablename__ = "links"
    __table_args__ = (
        UniqueConstraint("integration_id", "organisation_id", name="uq_links_organisation"),
        UniqueConstraint("integration_id", "contact_id", name="uq_links_contact"),
        Index("ix_links_status", "integration_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    integration_id: Mapped[str] = mapped_column(ForeignKey("integrations.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(BigInteger)
    organisation_name: Mapped[str] = mapped_column(String(500), default="")
    contact_id: Mapped[str] = mapped_column(String(64))
    contact_name: Mapped[str] = mapped_column(String(500), default="")
    url: Mapped[str | None] = mapped_column(Text)
    #: ContactFields.digest() of what was last written (or read, when linked without writing).
    fields_hash: Mapped[str | None] = mapped_column(String(64))
    #: The url last written to the organisation's ``write_link_to_field``.
    written_link: Mapped[str | None] = mapped_column(Text)
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_synced_at: Mapped[datetime | None]
    #: ``ok``, or ``broken``: the contact was archived or deleted without a merge (policy ``flag``).
    status: Mapped[str] = mapped_column(String(10), default="ok", server_default="ok")
    broken_reason: Mapped[str | None] = mapped_column(Text)
    #: The contact's own stamp in the answer to our last write (``Contact.updated_at``); a
    #: change reported with this stamp is that write's echo (``core.ledger.is_echo``).
    last_written_stamp: Mapped[datetime | None]
    #: The mapped fields of that write (``ContactFields`` as a dict); a poll that lists the
    #: contact exactly so has seen that write's echo (``core.ledger.is_polled_echo``).
    written_fields: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Job(Base):
    """A bulk job (CSV import, export, import): progress, errors and where to resume."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    integration_id: Mapped[str] = mapped_column(ForeignKey("integrations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.QUEUED.value)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: Where to resume (the job kind's own shape).
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None]


# -- pipeline (issue 12): what a create sent -------------------------------------------------
class SentCreate(Base):
    """The "create pending" marker, recording exactly what was sent: written (committed) right
    before a create goes out, removed once the link is stored or the create was certainly
    refused or never sent. A retry that finds one re-sends the identical request (the system
    replays its answer) or, past the system's key window, looks up the name and account number
    it sent; it never adopts anything else (docs/architecture.md, "Invariants")."""

    __tablename__ = "sent_creates"

    integration_id: Mapped[str] = mapped_column(ForeignKey("integrations.id"), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    #: Whether a request carrying this create may have reached the system.
    sent: Mapped[bool] = mapped_column(Boolean, default=True)
    name: Mapped[str] = mapped_column(String(500))
    account_number: Mapped[str] = mapped_column(String(200), default="")
    #: The idempotency scope the provider hashed with the body; "" when the create went out in a
    #: batch (the key covered the whole request, which cannot be re-sent for one element).
    idempotency_key: Mapped[str] = mapped_column(String(300), default="")
    #: ``ContactFields.digest()`` of what was sent ("" when not known: an older marker).
    body_digest: Mapped[str] = mapped_column(String(64), default="")
    #: The fields sent, so that the identical body can be built again.
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The attempt that sent it (``workers.executor.Item.attempt``; "" for a marker written
    #: outside the executor). Only that attempt may clear it as refused or never sent.
    attempt: Mapped[str] = mapped_column(String(200), default="", server_default="")


# --- branch alerts: alerts recorded before they are sent (interface §12) ---


class Alert(Base):
    """One alert: recorded first (in the transaction that notices its condition), then sent
    to each receiver by the alerts actor, with retries, until ``give_up_at``."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_due", "status", "next_attempt_at"),
        Index("ix_alerts_kind", "kind", "integration_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(40))
    integration_id: Mapped[str | None] = mapped_column(String(32))
    #: The alert as sent: {"alert", "integration_id", "integration_name", "count", "reasons",
    #: "ops_url", "text"}.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: ``pending`` (some receiver still owed), ``sent``, ``failed`` (gave up), ``no_receivers``.
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: One entry per receiver: {"target", "index", "label", "status", "attempts", "last_error",
    #: "sent_at"}. Receivers are named by position, never by URL (Slack URLs are secrets).
    deliveries: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime | None]
    give_up_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    #: ``events_failed``: the latest ``finished_at`` this digest covers (the next starts after).
    covers_until: Mapped[datetime | None]


class AlertCondition(Base):
    """A condition that has been alerted about and has not cleared since (edge-triggered:
    one alert when it starts, another only after it has cleared and come back)."""

    __tablename__ = "alert_conditions"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    since: Mapped[datetime] = mapped_column(default=utcnow)
    alert_id: Mapped[str | None] = mapped_column(String(32))


# --- owed (issue 13): events counted per integration and status as they change ---------------

from sqlalchemy import event as sa_event  # noqa: E402 - this block is appended by branch owed


class EventCount(Base):
    """How many events an integration has in each status, kept by triggers on ``events``
    (``core.store.event_count_triggers``) so that ``/metrics`` reads a few rows, not a million."""

    __tablename__ = "event_counts"

    integration_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


def _install_event_count_triggers(_target: Any, connection: Any, **_kw: Any) -> None:
    # After the whole metadata (the triggers need both tables); migrations install them too.
    from core.store import event_count_triggers

    event_count_triggers.install(connection)


sa_event.listen(Base.metadata, "after_create", _install_event_count_triggers)



# -- branch: matching (issue 15) ---------------------------------------------------------
class MatchResult(Base):
    """One organisation's result in the latest match review of an integration (interface §11):
    ``full``, ``partial`` or ``none``, with the candidates and the keys each agreed on."""

    __tablename__ = "match_results"
    __table_args__ = (
        UniqueConstraint("integration_id", "organisation_id", name="uq_match_results_organisation"),
        Index("ix_match_results_kind", "integration_id", "kind", "organisation_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    integration_id: Mapped[str] = mapped_column(ForeignKey("integrations.id"))
    job_id: Mapped[str] = mapped_column(String(32))
    organisation_id: Mapped[int] = mapped_column(BigInteger)
    organisation_name: Mapped[str] = mapped_column(String(500), default="")
    kind: Mapped[str] = mapped_column(String(10))
    #: ``[{"contact_id", "name", "url", "matched_on": [...]}]``, best first.
    candidates: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
