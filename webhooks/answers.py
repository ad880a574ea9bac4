"""What the admin API answers, as marshmallow schemas: the source of the answer side of the
OpenAPI document. ``webhooks.views`` builds the answers; a test validates real answers
against these (through the document), so a field added to a view and not here fails a test.

Answers are closed (no undocumented key); the free-form parts (a provider's settings, an
event's payload and outcome) are plain objects.
"""
from __future__ import annotations

from marshmallow import Schema, fields

from core.models import EventStatus, IntegrationStatus, JobStatus

INTEGRATION_STATUSES = [status.value for status in IntegrationStatus]
EVENT_STATUSES = [status.value for status in EventStatus]
JOB_STATUSES = [status.value for status in JobStatus]


def _nullable_time(description: str = "") -> fields.DateTime:
    return fields.DateTime(allow_none=True, metadata={"description": description} if description else {})


class SourceAnswerSchema(Schema):
    subdomain = fields.String()
    api_url = fields.String(allow_none=True)
    signed = fields.Boolean(metadata={"description": "webhooks carry a signature the service checks"})


class IntegrationSchema(Schema):
    """An integration as answered: never a secret."""

    id = fields.String()
    name = fields.String()
    status = fields.String(metadata={"enum": INTEGRATION_STATUSES})
    status_reason = fields.String(allow_none=True)
    source = fields.Nested(SourceAnswerSchema)
    provider = fields.Dict(metadata={"description": "kind, tenant/realm/business id, API and token URLs"})
    policies = fields.Dict()
    rate_limits = fields.Dict(metadata={"description": "overrides of the published limits, per system"})
    defaults = fields.Dict(metadata={"description": "fields set on contacts the service creates (interface §11)"})
    mapping = fields.Dict(metadata={"description": "custom_fields: Current RMS custom field -> contact field"})
    webhooks_registered = fields.Boolean()
    webhook_error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class IntegrationCreatedSchema(IntegrationSchema):
    webhook_url = fields.String(metadata={"description": "with its secret; shown only in this answer"})


class WebhooksRegisteredSchema(IntegrationCreatedSchema):
    previous_valid_until = _nullable_time("until when the previous webhook secret is still accepted")


class RotatedSchema(Schema):
    webhook_url = fields.String()
    previous_valid_until = fields.DateTime(allow_none=True)


class AttemptSchema(Schema):
    number = fields.Integer()
    status = fields.String()
    started_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    outcome = fields.Dict(allow_none=True)
    error = fields.String(allow_none=True)


class EventSchema(Schema):
    id = fields.String()
    integration_id = fields.String()
    source_event_id = fields.String()
    organisation_id = fields.Integer(allow_none=True)
    kind = fields.String()
    source = fields.String(metadata={"enum": ["current_rms", "poll", "ledger"]})
    status = fields.String(metadata={"enum": EVENT_STATUSES})
    attempts = fields.Integer()
    attempt_history = fields.List(fields.Nested(AttemptSchema))
    received_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    next_attempt_at = _nullable_time("when a retrying event runs again")
    outcome = fields.Dict(allow_none=True)
    last_error = fields.String(allow_none=True)
    payload = fields.Dict()
    resolved_at = _nullable_time("a failed event resolved by a person")
    resolved_note = fields.String(allow_none=True)
    superseded_by = fields.String(allow_none=True, metadata={
        "description": "a failed event: the later event of its organisation that succeeded"})


class EventListSchema(Schema):
    events = fields.List(fields.Nested(EventSchema))
    next_cursor = fields.String(allow_none=True)


class ReplayAnswerSchema(Schema):
    event_id = fields.String()
    status = fields.String(metadata={"description": "queued, or the current status when not replayed"})


class ReplayedSchema(Schema):
    replayed = fields.Integer()


class ReconcileStartedSchema(Schema):
    integration_id = fields.String()
    status = fields.String(metadata={"enum": ["queued"]})


class LinkSchema(Schema):
    organisation_id = fields.Integer()
    organisation_name = fields.String()
    contact_id = fields.String()
    contact_name = fields.String()
    url = fields.String(allow_none=True)
    linked_at = fields.DateTime()
    last_synced_at = fields.DateTime(allow_none=True)
    status = fields.String(metadata={"enum": ["ok", "broken"]})
    broken_reason = fields.String(allow_none=True)


class LinkListSchema(Schema):
    links = fields.List(fields.Nested(LinkSchema))


class ContactSummarySchema(Schema):
    id = fields.String()
    name = fields.String()
    email = fields.String(allow_none=True)
    url = fields.String(allow_none=True)


class ContactListSchema(Schema):
    contacts = fields.List(fields.Nested(ContactSummarySchema))


class IntegrationListSchema(Schema):
    integrations = fields.List(fields.Nested(IntegrationSchema))


class JobStartedSchema(Schema):
    job_id = fields.String()


class JobSchema(Schema):
    id = fields.String()
    integration_id = fields.String()
    kind = fields.String()
    status = fields.String(metadata={"enum": JOB_STATUSES})
    total = fields.Integer()
    done = fields.Integer()
    failed = fields.Integer()
    errors = fields.List(fields.Dict())
    summary = fields.Dict()
    dry_run = fields.Boolean()
    cancel_requested = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)


class JobListSchema(Schema):
    jobs = fields.List(fields.Nested(JobSchema))


class CsvResultSchema(Schema):
    linked = fields.Integer()
    unchanged = fields.Integer()
    skipped = fields.Integer(metadata={"description": "rows with an empty link cell (never an unlink)"})
    errors = fields.List(fields.Dict(), metadata={"description": '[{"row": n, "error": "..."}], rows counted from 1'})


class ErrorSchema(Schema):
    error = fields.String()
    job_id = fields.String(metadata={"description": "the job already under way (409 of export/import)"})
    # The answer's key is ``fields`` (docs/interface.md), which shadows ``Schema.fields`` for the type checker
    # only: marshmallow collects declared fields when the class is made, and an instance's
    # ``fields`` is set in ``__init__``.
    fields = fields.Dict(metadata={"description": "what was wrong, by field"})  # type: ignore[assignment]


class DeliveryReceiverSchema(Schema):
    target = fields.String(metadata={"enum": ["webhook", "email"]})
    label = fields.String(metadata={"description": "the receiver's host, or how many addresses"})
    status = fields.String(metadata={"enum": ["pending", "sent", "failed"]})
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    sent_at = fields.String(allow_none=True)


class DeliverySchema(Schema):
    status = fields.String(metadata={"enum": ["pending", "sent", "failed", "no_receivers"]})
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime(allow_none=True)
    give_up_at = fields.DateTime(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)
    last_error = fields.String(allow_none=True)
    receivers = fields.List(fields.Nested(DeliveryReceiverSchema))


class AlertSchema(Schema):
    id = fields.String()
    alert = fields.String(metadata={"enum": ["events_failed", "integration_reconnect_needed", "links_broken",
                                             "webhooks_unregistered", "queue_stalled"]})
    integration_id = fields.String(allow_none=True)
    integration_name = fields.String(allow_none=True)
    count = fields.Integer()
    reasons = fields.List(fields.String())
    ops_url = fields.String()
    text = fields.String()
    created_at = fields.DateTime()
    delivery = fields.Nested(DeliverySchema)


class AlertListSchema(Schema):
    alerts = fields.List(fields.Nested(AlertSchema))
    next_cursor = fields.String(allow_none=True)
