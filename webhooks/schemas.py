"""Marshmallow schemas of the admin API (also the source of its OpenAPI document).

Input is strict (unknown keys refused with the key named); secrets are load-only and never
appear in an answer.
"""
from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from core.matching import MATCH_KEYS
from core.models import EventStatus, IntegrationStatus
from core.name_clash import NAME_CLASH_POLICIES
from core.ratelimit import RENTAL_SYSTEM
from providers import registry

SUBDOMAIN = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$", error="not a valid subdomain")
HTTP_URL = fields.Url(schemes={"http", "https"}, require_tld=False)
SHORT = validate.Length(min=1, max=200)
#: Secrets, tenant and business ids travel in HTTP headers: printable ASCII only (anything else
#: cannot be encoded in a header and would fail every call).
HEADER_SAFE = validate.Regexp(r"^[\x21-\x7e]*$", error="printable ASCII without spaces")
SECRET = [validate.Length(min=1, max=4096), HEADER_SAFE]
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


def known_kind(value: str) -> None:
    """A registered ``provider.kind`` (read live from ``providers.registry``)."""
    if value not in registry.PROVIDERS:
        raise ValidationError(f"must be one of: {', '.join(registry.kinds())}")


class KnownSystem(validate.Validator):
    """A key of ``rate_limits``: a registered kind or the rental system. ``choices`` is read
    live from the registry, and the OpenAPI document lists the same names."""

    @property
    def choices(self) -> tuple[str, ...]:
        return registry.kinds() + (RENTAL_SYSTEM,)

    def __call__(self, value: str) -> str:
        if value not in self.choices:
            raise ValidationError(f"must be one of: {', '.join(self.choices)}")
        return value


known_system = KnownSystem()


def tenant_value(key: str) -> list[validate.Validator]:
    """The checks of a tenant value under ``key``: the ``tenant_pattern`` of each kind keeping
    its tenant there (QuickBooks: a realm id is digits), as ``Regexp`` validators so that the
    OpenAPI document states the same pattern the view checks (apispec writes the first
    ``Regexp`` of a field: these come before the looser HEADER_SAFE)."""
    checks: list[validate.Validator] = []
    for kind in registry.kinds():
        cls = registry.provider_class(kind)
        if cls.tenant_key == key and cls.tenant_pattern:
            checks.append(validate.Regexp(rf"^(?:{cls.tenant_pattern})$", error=f"not a {cls.title} {key}"))
    return checks


def tenant_fields() -> dict[str, fields.Field[Any]]:
    """One field per registered tenant key (``tenant_id``, ``realm_id``, ...)."""
    return {key: fields.String(validate=[SHORT, *tenant_value(key), HEADER_SAFE])
            for key in dict.fromkeys(registry.TENANT_KEYS.values())}


class ProviderCommonSchema(StrictSchema):
    """``provider`` less its tenant keys, which ``provider_schema`` adds from the registry."""

    kind = fields.String(required=True, validate=known_kind)
    client_id = fields.String(load_only=True, validate=SECRET)
    client_secret = fields.String(load_only=True, validate=SECRET)
    access_token = fields.String(load_only=True, validate=SECRET)
    refresh_token = fields.String(load_only=True, validate=SECRET)
    expires_at = fields.AwareDateTime(default_timezone=None)
    api_url = fields.Url(schemes={"http", "https"}, require_tld=False)
    token_url = fields.Url(schemes={"http", "https"}, require_tld=False)
    #: Xero only: the signing key of the app's webhooks (interface §10), a secret like the others.
    webhook_key = fields.String(load_only=True, validate=SECRET)

    @validates_schema
    def _tenant_matches_kind(self, data: dict[str, Any], **_: Any) -> None:
        for key in registry.wrong_tenant_keys(data.get("kind", "")):
            if key in data:
                raise ValidationError(f"not used by {data['kind']}", field_name=key)


def provider_schema() -> type[ProviderCommonSchema]:
    """``ProviderSchema`` with the tenant keys of the providers registered now."""
    schema: type[ProviderCommonSchema] = type("ProviderSchema", (ProviderCommonSchema,), tenant_fields())
    return schema


ProviderSchema = provider_schema()


def distinct(values: list[Any]) -> None:
    if len(set(values)) != len(values):
        raise ValidationError("a key is named twice")


class PoliciesSchema(StrictSchema):
    create_contact_on_create = StrictBoolean()
    update_contact_on_edit = StrictBoolean()
    create_contact_on_edit_if_unlinked = StrictBoolean()
    link_existing_by_name = StrictBoolean()
    linked_contact_field = fields.String(allow_none=True, validate=FIELD_NAME)
    write_link_to_field = fields.String(allow_none=True, validate=FIELD_NAME)
    # branch matching (interface §11): checked further in core.matching / core.name_clash
    match_on = fields.List(fields.String(validate=validate.OneOf(MATCH_KEYS)),
                           validate=[validate.Length(min=1, max=len(MATCH_KEYS)), distinct],
                           metadata={"uniqueItems": True})
    on_name_clash = fields.String(validate=validate.OneOf(NAME_CLASH_POLICIES))
    #: Interface §10: what an archive or delete in the accounting system does to the link.
    on_contact_archived = fields.String(validate=validate.OneOf(("flag", "reactivate", "recreate")))


class MappingSchema(StrictSchema):
    """``mapping`` (interface §11); targets are checked per system in ``providers.defaults``."""

    custom_fields = fields.Dict(
        keys=fields.String(validate=FIELD_NAME),
        values=fields.String(allow_none=True, validate=SHORT),
        metadata={"description": "Current RMS custom field -> contact field; the targets allowed "
                                 "depend on the integration's accounting system (README: custom fields); "
                                 "another system's target is refused with 400"})


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
        keys=fields.String(validate=known_system),
        values=fields.Nested(RateLimitsSchema),
    )
    defaults = fields.Dict(keys=fields.String(validate=FIELD_NAME), values=fields.Raw(allow_none=True))
    mapping = fields.Nested(MappingSchema)


class IntegrationPatchSchema(StrictSchema):
    name = fields.String(validate=SHORT)
    status = fields.String(validate=validate.OneOf((IntegrationStatus.ACTIVE, IntegrationStatus.DISABLED)))
    source = fields.Nested(SourceSchema(partial=True))
    provider = fields.Nested(ProviderSchema(partial=True))
    policies = fields.Nested(PoliciesSchema)
    rate_limits = IntegrationCreateSchema._declared_fields["rate_limits"]
    defaults = IntegrationCreateSchema._declared_fields["defaults"]
    mapping = IntegrationCreateSchema._declared_fields["mapping"]


#: The settled statuses a bulk replay may select (the document lists them in this order).
REPLAYABLE = (EventStatus.FAILED, EventStatus.RETRYING, EventStatus.SKIPPED, EventStatus.SUCCEEDED)


class ReplayFilterSchema(StrictSchema):
    integration = fields.String(validate=SHORT)
    status = fields.String(validate=validate.OneOf(REPLAYABLE), load_default=EventStatus.FAILED)
    since = fields.AwareDateTime(default_timezone=None)


class LinkPutSchema(StrictSchema):
    contact_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
