"""``POST /webhooks/current-rms/<integration_id>?token=<secret>`` (interface §4).

A thin script: verify → parse → record (committed) → hand to the broker → answer. The checks
run in the contract's order; each refusal is counted in a metric named after its reason.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Iterable, Iterator
from weakref import WeakKeyDictionary

import structlog
from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from core import metrics, webhook_tokens
from core.db import Database
from core.integration_settings import SourceSettings
from core.models import EventStatus, IntegrationStatus
from core.runtime import Runtime
from core.store import integrations
from core.store.event_intake import EventIntake, NotRecorded
from core.store.events import NewEvent
from webhooks import payloads, sessions, signatures
from webhooks.errors import ApiError
from workers import outbox
from workers.outbox_sender import OutboxSender

log = structlog.get_logger(__name__)
blueprint = Blueprint("webhooks", __name__)
# Deliveries carry no session cookie: opening one must cost nothing (webhooks/sessions.py).
blueprint.record_once(lambda state: sessions.install(state.app))

JSON_TYPES = ("application/json",)
#: The WSGI environ key whose fields gunicorn's access line adds (gunicorn.conf.py reads it).
ACCESS_LOG_FIELDS = "crms.access_log_fields"
SIGNATURE_REFUSED = "missing, wrong or expired X-Signature"
#: How far an oversized signed body is read to tell a wrong signature from a large body.
MAX_SIGNED_SCAN_BYTES = 8 * 1024 * 1024
SCAN_CHUNK_BYTES = 64 * 1024
#: Integrations whose current token opened their webhook a moment ago (safe: see the class).
recently_accepted = webhook_tokens.RecentlyAccepted()
#: One ``EventIntake`` per database (a process has one; tests build several).
_intakes: WeakKeyDictionary[Database, EventIntake] = WeakKeyDictionary()
#: One ``OutboxSender`` per database, as the intakes.
_senders: WeakKeyDictionary[Database, OutboxSender] = WeakKeyDictionary()


@blueprint.post("/webhooks/current-rms/<integration_id>")
def receive(integration_id: str) -> Response:
    rt: Runtime = current_app.extensions["runtime"]
    try:
        return _receive(rt, integration_id)
    except ApiError as error:
        _counted(str(error.status)).inc()
        raise


def _receive(rt: Runtime, integration_id: str) -> Response:
    token = request.args.get("token")
    integration = recently_accepted.get(integration_id, token) or _checked_integration(rt, integration_id, token)
    offered = _offered_signature(rt, integration)
    raw = _read_body(rt.settings.max_webhook_bytes, offered)
    if offered is not None and not offered.matches((raw,)):
        raise ApiError(401, SIGNATURE_REFUSED)
    _check_content_type()
    try:
        delivery = payloads.parse(raw)
    except payloads.BadPayload as error:
        raise ApiError(400, str(error), fields=error.fields) from None
    return _record(rt, integration.id, delivery)


def _checked_integration(rt: Runtime, integration_id: str, token: str | None) -> Any:
    """The integration's row read from the database (``integrations.for_webhook``), after the
    404 and 401 checks."""
    integration = _integration(rt, integration_id)
    if integration is None or integration.status == IntegrationStatus.DISABLED:
        raise ApiError(404, "no such integration")
    if not webhook_tokens.accepts(integration, token):
        raise ApiError(401, "missing or wrong token")
    recently_accepted.remember(integration_id, token, integration)
    return integration


def _integration(rt: Runtime, integration_id: str) -> Any | None:
    # The row of ``integrations.for_webhook``: attribute access like an ``Integration``.
    if len(integration_id) > 64:
        return None
    try:
        return integrations.for_webhook(rt.db, integration_id)
    except SQLAlchemyError:
        raise ApiError(503, "the delivery could not be recorded; try again",
                       headers={"Retry-After": "5"}) from None


def _read_body(limit: int, offered: OfferedSignature | None) -> bytes:
    """At most ``limit`` bytes, refused before reading when the declared length is larger.
    A signed sender's oversized body is first checked against its signature, as far as
    ``MAX_SIGNED_SCAN_BYTES``: interface §4 answers a wrong signature (401) before a size (413)."""
    declared = request.content_length or 0
    raw = b"" if declared > limit else request.stream.read(limit + 1)
    if declared <= limit and len(raw) <= limit:
        return raw
    if offered is not None and declared <= MAX_SIGNED_SCAN_BYTES:
        if not offered.matches(_rest_of_body(raw, MAX_SIGNED_SCAN_BYTES)):
            raise ApiError(401, SIGNATURE_REFUSED)
    raise ApiError(413, f"body larger than {limit} bytes")


def _rest_of_body(start: bytes, cap: int) -> Iterator[bytes]:
    yield start
    read = len(start)
    while read < cap:
        chunk = request.stream.read(min(SCAN_CHUNK_BYTES, cap - read))
        if not chunk:
            return
        read += len(chunk)
        yield chunk


@dataclass(frozen=True)
class OfferedSignature:
    """A well-formed, fresh ``X-Signature`` and the secret it must match."""

    secret: str
    offered: tuple[int, list[str]]

    def matches(self, chunks: Iterable[bytes]) -> bool:
        return signatures.matches(self.secret, self.offered, chunks)


def _offered_signature(rt: Runtime, integration: Any) -> OfferedSignature | None:
    """``None`` for an integration without a signing secret; 401 for a signature missing,
    malformed or outside ±5 minutes (checked before the body is read)."""
    if not SourceSettings.from_settings(integration.settings).signed:
        return None
    offered = signatures.fresh(request.headers.get("X-Signature"))
    if offered is None:
        raise ApiError(401, SIGNATURE_REFUSED)
    secret = integrations.secrets_of(rt.vault, integration).get("signing_secret", "")
    return OfferedSignature(secret, offered)


def _check_content_type() -> None:
    """A missing Content-Type is accepted; a present one must be JSON (``+json`` too)."""
    header = request.headers.get("Content-Type")
    if header is None:
        return
    mimetype = header.split(";", 1)[0].strip().lower()
    if mimetype in JSON_TYPES or (mimetype.startswith("application/") and mimetype.endswith("+json")):
        return
    raise ApiError(415, f"Content-Type must be JSON, not {mimetype or 'empty'}")


def _record(rt: Runtime, integration_id: str, delivery: payloads.Delivery) -> Response:
    is_member = delivery.subject_type == "Member"
    new = NewEvent(
        integration_id=integration_id, source_event_id=str(delivery.action_id),
        organisation_id=delivery.subject_id, subject_type=delivery.subject_type,
        kind=delivery.kind, payload=delivery.payload,
        status=EventStatus.QUEUED if is_member else EventStatus.SKIPPED,
    )
    message_id = outbox.new_message_id() if is_member else None
    try:
        event, duplicate = _intake(rt).record(new, message_id=message_id)
    except (NotRecorded, SQLAlchemyError):
        log.exception("could not record a delivery", integration_id=integration_id)
        raise ApiError(503, "the delivery could not be recorded; try again",
                       headers={"Retry-After": "5"}) from None
    if duplicate:
        _counted("duplicate").inc()
        return _answer(200, {"event_id": event.id, "status": event.status, "duplicate": True})
    if message_id is not None:
        # Committed with its message id already: the message follows in a batch from this
        # process's sender thread, and the relay re-sends it if this process dies first
        # (workers/outbox_sender.py says why the promise holds).
        _sender(rt).submit(event.id, message_id)
    _counted(event.status).inc()
    # One log line per delivery, not two: gunicorn's access line (gunicorn.conf.py) carries
    # these fields beside the path and status. A separate structlog line cost 7 % of the
    # webhook's CPU under load (issue 18's profile).
    request.environ[ACCESS_LOG_FIELDS] = {
        "event_id": event.id, "organisation_id": delivery.subject_id, "event_status": event.status,
        "kind": delivery.kind,
    }
    return _answer(202, {"event_id": event.id, "status": event.status})


@functools.lru_cache(maxsize=32)
def _counted(answer: str) -> Any:
    """The ``webhooks_total`` child of one answer, looked up once (the answers are few)."""
    return metrics.WEBHOOKS.labels(answer=answer)


def _intake(rt: Runtime) -> EventIntake:
    intake = _intakes.get(rt.db)
    if intake is None:
        intake = _intakes[rt.db] = EventIntake(rt.db)
    return intake


def _sender(rt: Runtime) -> OutboxSender:
    sender = _senders.get(rt.db)
    if sender is None:
        sender = _senders[rt.db] = OutboxSender(rt.db)
    return sender


def _answer(status: int, body: dict[str, Any]) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


# An integration changed by this process (a PATCH, a rotation, a delete through the admin API)
# is forgotten at its commit, so the process that made the change answers by it at once; the
# other processes of the host follow within ``webhook_tokens.ACCEPTED_FOR_SECONDS``.
CHANGES_INTEGRATIONS = ("UPDATE integrations", "DELETE FROM integrations")


@sqlalchemy_event.listens_for(Engine, "before_cursor_execute")
def _note_integration_change(connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    if statement.startswith(CHANGES_INTEGRATIONS):
        connection.info["integrations_changed"] = True


@sqlalchemy_event.listens_for(Engine, "commit")
def _forget_changed_integrations(connection: Any) -> None:
    if connection.info.pop("integrations_changed", False):
        recently_accepted.clear()
