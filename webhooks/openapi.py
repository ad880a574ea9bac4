"""``GET /api/openapi.json``: the admin API as an OpenAPI 3 document (apispec + the
marshmallow schemas of ``webhooks.schemas``). A test checks it against ``app.url_map``: every
``/api/*`` route is described here and every path here is served."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint
from marshmallow import Schema, fields

from webhooks import schemas
from webhooks.auth import admin_required

blueprint = Blueprint("openapi", __name__)

TITLE = "Current RMS accounting link: admin API"
VERSION = "1.0.0"
ERRORS = {"400": "invalid input", "401": "missing or wrong bearer token", "404": "not found"}
RETRY_LATER = {"description": "the accounting system is down or its rate limit has no room; see Retry-After"}


class ReplayAnswerSchema(Schema):
    event_id = fields.String()
    status = fields.String(metadata={"description": "queued, or the current status when not replayed"})


class ReplayedSchema(Schema):
    replayed = fields.Integer()


class LinkListSchema(Schema):
    links = fields.List(fields.Nested(schemas.LinkSchema))


class ContactSummarySchema(Schema):
    id = fields.String()
    name = fields.String()
    email = fields.String(allow_none=True)
    url = fields.String(allow_none=True)


class ContactListSchema(Schema):
    contacts = fields.List(fields.Nested(ContactSummarySchema))


class IntegrationListSchema(Schema):
    integrations = fields.List(fields.Nested(schemas.IntegrationSchema))


class RotatedSchema(Schema):
    webhook_url = fields.String()
    previous_valid_until = fields.DateTime(allow_none=True)


class JobStartedSchema(Schema):
    job_id = fields.String()


class JobSchema(Schema):
    id = fields.String()
    integration_id = fields.String()
    kind = fields.String()
    status = fields.String(metadata={"enum": ["queued", "running", "succeeded", "failed", "cancelled"]})
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
    errors = fields.List(fields.Dict(), metadata={"description": '[{"row": n, "error": "..."}], rows counted from 1'})


def _param(name: str, where: str = "query", description: str = "", **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "description": description,
            "schema": schema or {"type": "string"}}


INTEGRATION = _param("integration_id", "path")
EVENT = _param("event_id", "path")
ORGANISATION = _param("organisation_id", "path", "Current RMS organisation id", type="integer")


def _json(schema: Any, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _op(summary: str, answers: dict[str, Any], *, params: list[dict[str, Any]] | None = None,
        body: Any = None, content_type: str = "application/json") -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "parameters": params or [], "responses": {
        **answers, **{code: {"$ref": f"#/components/responses/E{code}"} for code in ERRORS}}}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {content_type: {"schema": body}}}
    return operation


EVENT_FILTERS = [
    _param("integration", description="integration id"),
    _param("status", enum=["queued", "processing", "retrying", "succeeded", "skipped", "failed"]),
    _param("organisation_id", type="integer"),
    _param("since", description="received at or after (ISO 8601 with zone)", format="date-time"),
    _param("until", description="received at or before (ISO 8601 with zone)", format="date-time"),
    _param("limit", type="integer", minimum=1, maximum=500, default=50),
    _param("cursor", description="next_cursor of the previous page"),
]

#: Every admin operation: path -> method -> operation (CONTRACT §3, §6, §7).
PATHS: dict[str, dict[str, dict[str, Any]]] = {
    "/api/integrations": {
        "post": _op("Create an integration; registers its webhooks", {"201": _json(
            "IntegrationCreated", "created; webhook_url (with its secret) is shown only here")},
            body="IntegrationCreate"),
        "get": _op("List integrations", {"200": _json(IntegrationListSchema, "integrations")}),
    },
    "/api/integrations/{integration_id}": {
        "get": _op("Show an integration", {"200": _json("Integration", "the integration")}, params=[INTEGRATION]),
        "patch": _op("Change an integration (merges: keys not sent are kept)",
                     {"200": _json("Integration", "the integration")}, params=[INTEGRATION], body="IntegrationPatch"),
        "delete": _op("Delete an integration (events and links kept)", {"204": {"description": "deleted"}},
                      params=[INTEGRATION]),
    },
    "/api/integrations/{integration_id}/register-webhooks": {
        "post": _op("Register the rental system's webhooks again",
                    {"200": _json("IntegrationCreated", "the integration and its new webhook_url")}, params=[INTEGRATION]),
    },
    "/api/integrations/{integration_id}/rotate-webhook-token": {
        "post": _op("New webhook secret; the old one stays valid 24 hours",
                    {"200": _json(RotatedSchema, "the new webhook URL")}, params=[INTEGRATION]),
    },
    "/api/integrations/{integration_id}/reconcile": {
        "post": _op("Run the reconciliation poll now", {"202": {"description": "started"}}, params=[INTEGRATION]),
    },
    "/api/integrations/{integration_id}/links": {
        "get": _op("Links of an integration", {"200": _json(LinkListSchema, "links")},
                   params=[INTEGRATION, _param("organisation_id", type="integer"),
                           _param("status", type="string", enum=["ok", "broken"])]),
    },
    "/api/integrations/{integration_id}/ledger-poll": {
        "post": _op("Run the ledger poll now: contacts changed in the accounting system",
                    {"202": {"description": "started"}}, params=[INTEGRATION]),
    },
    "/api/integrations/{integration_id}/verify-links": {
        "post": _op("Check every linked contact (exists, active, merged); a job",
                    {"202": {"description": "the job's id"}}, params=[INTEGRATION]),
    },
    "/api/integrations/{integration_id}/links/{organisation_id}": {
        "put": _op("Link an organisation to a contact by hand, then sync it", {
            "200": _json("Link", "the link"), "409": {"description": "the contact is linked to another organisation"},
            "422": {"description": "no such contact"}, "503": RETRY_LATER},
            params=[INTEGRATION, ORGANISATION], body="LinkPut"),
        "delete": _op("Unlink (nothing is deleted in either system)", {"204": {"description": "unlinked"}},
                      params=[INTEGRATION, ORGANISATION]),
    },
    "/api/integrations/{integration_id}/links.csv": {
        "get": _op("Every active organisation and its linked contact, as CSV (UTF-8 BOM, CRLF)",
                   {"200": {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}}},
                   params=[INTEGRATION]),
        "post": _op("Link from a CSV (at most 10,000 rows, 5 MiB); over 500 rows becomes a job", {
            "200": _json(CsvResultSchema, "applied (or checked, with dry_run=1)"),
            "202": _json(JobStartedSchema, "a job"), "413": {"description": "too large"}, "503": RETRY_LATER},
            params=[INTEGRATION, _param("dry_run", enum=["0", "1"])], body={"type": "string"},
            content_type="text/csv"),
    },
    "/api/integrations/{integration_id}/contacts": {
        "get": _op("Auto-suggest: up to 10 active contacts whose name contains q", {
            "200": _json(ContactListSchema, "contacts"), "503": RETRY_LATER},
            params=[INTEGRATION, _param("q", description="at least 3 characters", minLength=3)]),
    },
    "/api/integrations/{integration_id}/export": {
        "post": _op("Create (or link by name) a contact for every unlinked organisation",
                    {"202": _json(JobStartedSchema, "a job")}, params=[INTEGRATION]),
    },
    "/api/integrations/{integration_id}/import": {
        "post": _op("Create an organisation for every unlinked contact",
                    {"202": _json(JobStartedSchema, "a job")}, params=[INTEGRATION]),
    },
    "/api/jobs": {
        "get": _op("Recent bulk jobs, newest first", {"200": _json(JobListSchema, "jobs")},
                   params=[_param("integration_id", description="only this integration's jobs")]),
    },
    "/api/jobs/{job_id}": {
        "get": _op("A bulk job's progress", {"200": _json(JobSchema, "the job")}, params=[_param("job_id", "path")]),
    },
    "/api/jobs/{job_id}/cancel": {
        "post": _op("Cancel a bulk job", {"202": {"description": "cancelling"}}, params=[_param("job_id", "path")]),
    },
    "/api/events": {
        "get": _op("Events, newest first, with filters and cursor paging",
                   {"200": _json("EventList", "a page of events")}, params=EVENT_FILTERS),
    },
    "/api/events/{event_id}": {
        "get": _op("One event with its payload, outcome, last error and attempts",
                   {"200": _json("Event", "the event")}, params=[EVENT]),
    },
    "/api/events/{event_id}/replay": {
        "post": _op("Replay one event (not if it is queued or processing)",
                    {"202": _json(ReplayAnswerSchema, "its status")}, params=[EVENT]),
    },
    "/api/events/replay": {
        "post": _op("Replay every event matching the filter (status defaults to failed)",
                    {"202": _json(ReplayedSchema, "how many were replayed")}, body="ReplayFilter"),
    },
    "/api/openapi.json": {
        "get": _op("This document", {"200": {"description": "OpenAPI 3"}}),
    },
}

NAMED_SCHEMAS = {
    "Integration": schemas.IntegrationSchema, "IntegrationCreated": schemas.IntegrationCreatedSchema,
    "IntegrationCreate": schemas.IntegrationCreateSchema, "IntegrationPatch": schemas.IntegrationPatchSchema,
    "Event": schemas.EventSchema, "EventList": schemas.EventListSchema, "ReplayFilter": schemas.ReplayFilterSchema,
    "Link": schemas.LinkSchema, "LinkPut": schemas.LinkPutSchema, "Error": schemas.ErrorSchema,
}


def _schema_name(schema: Any) -> str:
    """Component names: the class without "Schema"; a partial (PATCH) variant adds "Patch"."""
    cls = schema if isinstance(schema, type) else type(schema)
    partial = not isinstance(schema, type) and bool(getattr(schema, "partial", False))
    return cls.__name__.removesuffix("Schema") + ("Patch" if partial else "")


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    spec = APISpec(title=TITLE, version=VERSION, openapi_version="3.0.3", plugins=[MarshmallowPlugin(schema_name_resolver=_schema_name)],
                   info={"description": "Every call carries Authorization: Bearer <ADMIN_TOKEN>."},
                   security=[{"admin": []}])
    spec.components.security_scheme("admin", {"type": "http", "scheme": "bearer"})
    for name, schema in NAMED_SCHEMAS.items():
        spec.components.schema(name, schema=schema)
    for code, description in ERRORS.items():
        spec.components.response(f"E{code}", _json("Error", description))
    for path, operations in PATHS.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


@blueprint.get("/api/openapi.json")
@admin_required
def openapi_json() -> dict[str, Any]:
    """Behind the admin token like every ``/api/*`` call (CONTRACT §3)."""
    return document()
