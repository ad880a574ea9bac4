"""Marshmallow schemas of the admin API (also the source of its OpenAPI document).

Input is strict (unknown keys refused with the key named); secrets are load-only and never
appear in an answer.
"""
from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

PROVIDER_KINDS = ("xero", "quickbooks", "sage")
SUBDOMAIN = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$", error="not a valid subdomain")
HTTP_URL = fields.Url(schemes={"http", "https"}, require_tld=False)
SHORT = validate.Length(min=1, max=200)
SECRET = validate.Length(min=1, max=4096)
FIELD_NAME = validate.Length(min=1, max=100)


class StrictBoolean(fields.Boolean):
    """Only JSON ``true`` or ``false``: not 1, "yes" or "true"."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("must be true or false")
        return value


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class SourceSchema(StrictSchema):
    subdomain = fields.String(required=True, validate=SUBDOMAIN)
    api_key = fields.String(required=True, load_only=True, validate=SECRET)
    api_url = fields.Url(schemes={"http", "https"}, require_tld=False)
    signing_secret = fields.String(load_only=True, allow_none=True, validate=SECRET)


class ProviderSchema(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(PROVIDER_KINDS))
    tenant_id = fields.String(validate=SHORT)
    realm_id = fields.String(validate=validate.Regexp(r"^\d{1,30}$", error="must be digits"))
    business_id = fields.String(validate=SHORT)
    client_id = fields.String(load_only=True, validate=SECRET)
    client_secret = fields.String(load_only=True, validate=SECRET)
    access_token = fields.String(load_only=True, validate=SECRET)
    refresh_token = fields.String(load_only=True, validate=SECRET)
    expires_at = fields.AwareDateTime(default_timezone=None)
    api_url = fields.Url(schemes={"http", "https"}, require_tld=False)
    token_url = fields.Url(schemes={"http", "https"}, require_tld=False)
    #: Xero only: the signing key of the app's webhooks (CONTRACT §10), a secret like the others.
    webhook_key = fields.String(load_only=True, validate=SECRET)

    @validates_schema
    def _tenant_matches_kind(self, data: dict[str, Any], **_: Any) -> None:
        wrong = {"xero": ("realm_id", "business_id"), "quickbooks": ("tenant_id", "business_id"),
                 "sage": ("tenant_id", "realm_id")}.get(data.get("kind", ""), ())
        for key in wrong:
            if key in data:
                raise ValidationError(f"not used by {data['kind']}", field_name=key)


class PoliciesSchema(StrictSchema):
    create_contact_on_create = StrictBoolean()
    update_contact_on_edit = StrictBoolean()
    create_contact_on_edit_if_unlinked = StrictBoolean()
    link_existing_by_name = StrictBoolean()
    linked_contact_field = fields.String(allow_none=True, validate=FIELD_NAME)
    write_link_to_field = fields.String(allow_none=True, validate=FIELD_NAME)
    #: CONTRACT §10: what an archive or delete in the accounting system does to the link.
    on_contact_archived = fields.String(validate=validate.OneOf(("flag", "reactivate", "recreate")))


class RateLimitsSchema(StrictSchema):
    per_minute = fields.Integer(strict=True, validate=validate.Range(min=1))
    per_second = fields.Integer(strict=True, validate=validate.Range(min=1))
    per_day = fields.Integer(strict=True, validate=validate.Range(min=1))
    concurrent = fields.Integer(strict=True, validate=validate.Range(min=1))
    batch_per_minute = fields.Integer(strict=True, validate=validate.Range(min=1))


class IntegrationCreateSchema(StrictSchema):
    name = fields.String(required=True, validate=SHORT)
    source = fields.Nested(SourceSchema, required=True)
    provider = fields.Nested(ProviderSchema, required=True)
    policies = fields.Nested(PoliciesSchema, load_default=dict)
    rate_limits = fields.Dict(
        keys=fields.String(validate=validate.OneOf(PROVIDER_KINDS + ("current_rms",))),
        values=fields.Nested(RateLimitsSchema),
    )


class IntegrationPatchSchema(StrictSchema):
    name = fields.String(validate=SHORT)
    status = fields.String(validate=validate.OneOf(("active", "disabled")))
    source = fields.Nested(SourceSchema(partial=True))
    provider = fields.Nested(ProviderSchema(partial=True))
    policies = fields.Nested(PoliciesSchema)
    rate_limits = IntegrationCreateSchema._declared_fields["rate_limits"]


class IntegrationSchema(Schema):
    """An integration as answered: never a secret."""

    id = fields.String()
    name = fields.String()
    status = fields.String()
    status_reason = fields.String(allow_none=True)
    source = fields.Dict()
    provider = fields.Dict()
    policies = fields.Dict()
    webhooks_registered = fields.Boolean()
    webhook_error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class IntegrationCreatedSchema(IntegrationSchema):
    webhook_url = fields.String()


class EventSchema(Schema):
    id = fields.String()
    integration_id = fields.String()
    source_event_id = fields.String()
    organisation_id = fields.Integer(allow_none=True)
    kind = fields.String()
    #: ``current_rms`` (its webhooks), ``poll`` (reconciliation) or ``ledger`` (CONTRACT §10).
    source = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    attempt_history = fields.List(fields.Dict())
    received_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    outcome = fields.Dict(allow_none=True)
    last_error = fields.String(allow_none=True)
    payload = fields.Dict()


class EventListSchema(Schema):
    events = fields.List(fields.Nested(EventSchema))
    next_cursor = fields.String(allow_none=True)


class ReplayFilterSchema(StrictSchema):
    integration = fields.String(validate=SHORT)
    status = fields.String(validate=validate.OneOf(("failed", "skipped", "succeeded")), load_default="failed")
    since = fields.AwareDateTime(default_timezone=None)


class LinkSchema(Schema):
    organisation_id = fields.Integer()
    organisation_name = fields.String()
    contact_id = fields.String()
    contact_name = fields.String()
    url = fields.String(allow_none=True)
    linked_at = fields.DateTime()
    last_synced_at = fields.DateTime(allow_none=True)
    status = fields.String()  #: ``ok`` | ``broken`` (CONTRACT §10)
    broken_reason = fields.String(allow_none=True)


class LinkPutSchema(StrictSchema):
    contact_id = fields.String(required=True, validate=validate.Length(min=1, max=64))


class ErrorSchema(Schema):
    error = fields.String()
    fields = fields.Dict()
