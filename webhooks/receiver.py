"""``POST /webhooks/current-rms/<integration_id>?token=<secret>`` (interface §4).

A thin script: verify → parse → record (committed) → hand to the broker → answer. The checks
run in the contract's order; each refusal is counted in a metric named after its reason.

It is served in front of Flask, as plain WSGI (``WebhookIngress``): the webhook is the one path
whose cost is the service's ceiling, and Flask's request machinery (its contexts, routing over
every rule, the session, the response object and its hooks) was a sixth of a delivery's CPU
(issue 18's profile). Everything Flask gave it is kept: the same refusals, as the same JSON
(``ApiError.body``), the same security headers (``webhooks.SECURITY_HEADERS``), the same 500
for the unforeseen. Flask still knows the rule, without a view, so that another method on the
path is answered as on any route (405 naming POST; OPTIONS).
"""
from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import IO, Any
from urllib.parse import unquote_plus
from weakref import WeakKeyDictionary

import structlog
from flask import Blueprint
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wsgi import get_content_length, get_input_stream

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
#: The rule without a view: its POST never reaches Flask (``WebhookIngress`` serves it).
blueprint.add_url_rule("/webhooks/current-rms/<integration_id>", endpoint="receive", methods=["POST"])
# API calls carry no session cookie: opening one must cost nothing (webhooks/sessions.py).
blueprint.record_once(lambda state: sessions.install(state.app))
#: The path ``WebhookIngress`` serves (Flask's default converter: anything but a slash).
WEBHOOK_PATH = re.compile(r"/webhooks/current-rms/([^/]+)")
StartResponse = Callable[..., Any]

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


class WebhookIngress:
    """WSGI in front of the Flask app: serves the webhook's POST, hands everything else on."""

    def __init__(self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]], rt: Runtime,
                 security_headers: Iterable[tuple[str, str]]) -> None:
        self.app = app
        self.rt = rt
        self.security_headers = list(security_headers)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST":
            match = WEBHOOK_PATH.fullmatch(environ.get("PATH_INFO") or "")
            if match is not None:
                return self._serve(_wsgi_text(match.group(1)), environ, start_response)
        return self.app(environ, start_response)

    def _serve(self, integration_id: str, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        headers: dict[str, str] = {}
        try:
            status, body = _receive(self.rt, integration_id, Incoming(environ))
        except ApiError as error:
            _counted(str(error.status)).inc()
            status, body, headers = error.status, error.body(), error.headers
        except Exception:  # noqa: BLE001 - as Flask's handler: logged, answered without detail
            log.exception("unhandled error in a request")
            status, body = 500, {"error": "internal error"}
        payload = json.dumps(body, separators=(",", ":")).encode() + b"\n"
        start_response(_status_line(status), [
            ("Content-Type", "application/json"), ("Content-Length", str(len(payload))),
            *headers.items(), *self.security_headers,
        ])
        return [payload]


@functools.lru_cache(maxsize=32)
def _status_line(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"


def _wsgi_text(value: str) -> str:
    """A WSGI path segment (bytes as latin-1) as text, decoded as Werkzeug's routing does."""
    return value.encode("latin-1", "replace").decode("utf-8", "replace")


class Incoming:
    """What the webhook reads of a request, straight from the WSGI environ."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ

    @property
    def token(self) -> str | None:
        query = self.environ.get("QUERY_STRING")
        if not query:
            return None
        # The first ``token`` parameter, decoded as Flask's ``request.args.get("token")`` (and
        # ``parse_qsl``) decode it, without building the other parameters.
        for part in _wsgi_text(query).split("&"):
            name, _, value = part.partition("=")
            if (unquote_plus(name) if "%" in name or "+" in name else name) == "token":
                return unquote_plus(value)
        return None

    def header(self, wsgi_name: str) -> str | None:
        value = self.environ.get(wsgi_name)
        return None if value is None else _wsgi_text(value)

    @property
    def content_length(self) -> int | None:
        return get_content_length(self.environ)

    @property
    def stream(self) -> IO[bytes]:
        return get_input_stream(self.environ)


def _receive(rt: Runtime, integration_id: str, incoming: Incoming) -> tuple[int, dict[str, Any]]:
    token = incoming.token
    integration = recently_accepted.get(integration_id, token) or _checked_integration(rt, integration_id, token)
    offered = _offered_signature(rt, integration, incoming)
    raw = _read_body(rt.settings.max_webhook_bytes, offered, incoming)
    if offered is not None and not offered.matches((raw,)):
        raise ApiError(401, SIGNATURE_REFUSED)
    _check_content_type(incoming)
    try:
        delivery = payloads.parse(raw)
    except payloads.BadPayload as error:
        raise ApiError(400, str(error), fields=error.fields) from None
    return _record(rt, integration.id, delivery, incoming.environ)


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


def _read_body(limit: int, offered: OfferedSignature | None, incoming: Incoming) -> bytes:
    """At most ``limit`` bytes, refused before reading when the declared length is larger.
    A signed sender's oversized body is first checked against its signature, as far as
    ``MAX_SIGNED_SCAN_BYTES``: interface §4 answers a wrong signature (401) before a size (413)."""
    declared = incoming.content_length or 0
    stream = incoming.stream
    raw = b"" if declared > limit else stream.read(limit + 1)
    if declared <= limit and len(raw) <= limit:
        return raw
    if offered is not None and declared <= MAX_SIGNED_SCAN_BYTES:
        if not offered.matches(_rest_of_body(stream, raw, MAX_SIGNED_SCAN_BYTES)):
            raise ApiError(401, SIGNATURE_REFUSED)
    raise ApiError(413, f"body larger than {limit} bytes")


def _rest_of_body(stream: IO[bytes], start: bytes, cap: int) -> Iterator[bytes]:
    yield start
    read = len(start)
    while read < cap:
        chunk = stream.read(min(SCAN_CHUNK_BYTES, cap - read))
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


def _offered_signature(rt: Runtime, integration: Any, incoming: Incoming) -> OfferedSignature | None:
    """``None`` for an integration without a signing secret; 401 for a signature missing,
    malformed or outside ±5 minutes (checked before the body is read)."""
    if not SourceSettings.from_settings(integration.settings).signed:
        return None
    offered = signatures.fresh(incoming.header("HTTP_X_SIGNATURE"))
    if offered is None:
        raise ApiError(401, SIGNATURE_REFUSED)
    secret = integrations.secrets_of(rt.vault, integration).get("signing_secret", "")
    return OfferedSignature(secret, offered)


def _check_content_type(incoming: Incoming) -> None:
    """A missing Content-Type is accepted; a present one must be JSON (``+json`` too)."""
    header = incoming.header("CONTENT_TYPE")
    if header is None:
        return
    mimetype = header.split(";", 1)[0].strip().lower()
    if mimetype in JSON_TYPES or (mimetype.startswith("application/") and mimetype.endswith("+json")):
        return
    raise ApiError(415, f"Content-Type must be JSON, not {mimetype or 'empty'}")


def _record(rt: Runtime, integration_id: str, delivery: payloads.Delivery,
            environ: dict[str, Any]) -> tuple[int, dict[str, Any]]:
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
        return 200, {"event_id": event.id, "status": event.status, "duplicate": True}
    if message_id is not None:
        # Committed with its message id already: the message follows in a batch from this
        # process's sender thread, and the relay re-sends it if this process dies first
        # (workers/outbox_sender.py says why the promise holds).
        _sender(rt).submit(event.id, message_id)
    _counted(event.status).inc()
    # One log line per delivery, not two: gunicorn's access line (gunicorn.conf.py) carries
    # these fields beside the path and status. A separate structlog line cost 7 % of the
    # webhook's CPU under load (issue 18's profile).
    environ[ACCESS_LOG_FIELDS] = {
        "event_id": event.id, "organisation_id": delivery.subject_id, "event_status": event.status,
        "kind": delivery.kind,
    }
    return 202, {"event_id": event.id, "status": event.status}


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
