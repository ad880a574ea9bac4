"""Match review (interface §11): start a review job, read its results, confirm links.

- ``POST …/match`` → 202 ``{"job_id"}``: the job (``workers.bulk.match``) reads the ledger and
  the organisations and writes nothing to the accounting system.
- ``GET …/matches?kind=full|partial|none`` → ``{"matches": [...], "counts": {...}}``;
  ``GET …/matches.csv`` the same as a download whose link column is the links CSV's, so an
  edited download can be uploaded to ``POST …/links.csv``.
- ``POST …/matches/confirm`` with ``{"all_full": true}`` or ``{"links": [...]}`` → 200
  ``{"linked", "errors"}``: each link made as ``PUT …/links/<id>`` makes it (the contact must
  exist and be free; then the organisation syncs at once, overwriting the contact only if
  ``update_contact_on_edit``).
"""
from __future__ import annotations

from typing import Any, Iterator

from flask import Blueprint, Response, request
from marshmallow import ValidationError as SchemaError
from marshmallow import fields, validate, validates_schema

from core.matching import MATCH_KEYS, MATCH_KINDS, valid_match_on
from core.models import IntegrationStatus
from core.store import jobs, matches
from core.tables import Integration, MatchResult
from providers.registry import provider_class
from webhooks.api_integrations import found, load
from webhooks.api_links import asking_provider
from webhooks.app_runtime import app_runtime
from webhooks.auth import admin_required
from webhooks.errors import ApiError
from webhooks.schemas import StrictBoolean, StrictSchema
from webhooks.views import json_body
from workers.bulk import csv_format, match_confirm
from workers.bulk import jobs as bulk_jobs

blueprint = Blueprint("api_matches", __name__, url_prefix="/api/integrations")

KIND = "match"
#: Links one confirm may carry (a larger batch: the links CSV upload, which becomes a job).
MAX_LINKS = 500




class MatchStartSchema(StrictSchema):
    match_on = fields.List(fields.String(validate=validate.OneOf(MATCH_KEYS)),
                           validate=validate.Length(min=1, max=len(MATCH_KEYS)))


class LinkPairSchema(StrictSchema):
    organisation_id = fields.Integer(required=True, strict=True,
                                     validate=validate.Range(min=1, max=2**63 - 1))
    contact_id = fields.String(required=True, validate=validate.Length(min=1, max=64))


class ConfirmSchema(StrictSchema):
    all_full = StrictBoolean()
    links = fields.List(fields.Nested(LinkPairSchema), validate=validate.Length(min=1, max=MAX_LINKS))

    @validates_schema
    def _one_of(self, data: dict[str, Any], **_: Any) -> None:
        if bool(data.get("all_full")) == bool(data.get("links")):
            raise SchemaError("send either all_full: true or a list of links", field_name="_schema")


@blueprint.post("/<integration_id>/match")
@admin_required
def start(integration_id: str) -> tuple[dict[str, Any], int]:
    integration = found(integration_id)
    options = load(MatchStartSchema(), json_body(required=False))
    if "match_on" in options and valid_match_on(options["match_on"]):
        raise ApiError(400, "invalid body", fields={"match_on": valid_match_on(options["match_on"])})
    if integration.status != IntegrationStatus.ACTIVE:
        raise ApiError(409, f"the integration is {integration.status}")
    running = jobs.unfinished(app_runtime().db, integration.id, KIND)
    if running is not None:
        raise ApiError(409, "a match review is already under way", extra={"job_id": running.id})
    job = bulk_jobs.start(app_runtime(), integration.id, KIND, state={"options": options})
    return {"job_id": job.id}, 202


def _kind_arg() -> str | None:
    kind = request.args.get("kind")
    if kind is not None and kind not in MATCH_KINDS:
        raise ApiError(400, "invalid query", fields={"kind": [f"one of {', '.join(MATCH_KINDS)}"]})
    return kind


def result_view(row: MatchResult) -> dict[str, Any]:
    return {"organisation_id": row.organisation_id, "organisation_name": row.organisation_name,
            "kind": row.kind, "candidates": list(row.candidates or [])}


@blueprint.get("/<integration_id>/matches")
@admin_required
def listing(integration_id: str) -> dict[str, Any]:
    integration = found(integration_id)
    rows = matches.listed(app_runtime().db, integration.id, _kind_arg())
    return {"matches": [result_view(r) for r in rows], "counts": matches.counts(app_runtime().db, integration.id)}


@blueprint.get("/<integration_id>/matches.csv")
@admin_required
def download(integration_id: str) -> Response:
    return matches_csv(integration_id)


def matches_csv(integration_id: str) -> Response:
    """The review as CSV (also served to a signed-in browser by the ops page)."""
    integration = found(integration_id)
    rows = matches.listed(app_runtime().db, integration.id, _kind_arg())
    column = provider_class(integration.provider_kind).csv_column
    lines = (line.encode("utf-8") for line in csv_lines(column, rows))
    return Response(lines, content_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="matches-{integration.id}.csv"'})


def csv_lines(link_column: str, rows: list[MatchResult]) -> Iterator[str]:
    """UTF-8 with a BOM, CRLF, formula-like cells defused (as the links CSV); one line per
    candidate, one empty-handed line for an organisation without any."""
    header = ["Organisation ID", csv_format.NAME_COLUMN, "Match", link_column, "Contact name",
              "Matched on", "Web link"]
    table = []
    for row in rows:
        for candidate in row.candidates or [{}]:
            table.append([str(row.organisation_id), row.organisation_name, row.kind,
                          candidate.get("contact_id", ""), candidate.get("name", ""),
                          " ".join(candidate.get("matched_on", [])), candidate.get("url") or ""])
    return _write([header, *table])


def _write(table: list[list[str]]) -> Iterator[str]:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for number, cells in enumerate(table):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(cells if number == 0 else [csv_format.safe_cell(c) for c in cells])
        yield (csv_format.BOM if number == 0 else "") + buffer.getvalue()


@blueprint.post("/<integration_id>/matches/confirm")
@admin_required
def confirm(integration_id: str) -> tuple[dict[str, Any], int]:
    integration = found(integration_id)
    body = load(ConfirmSchema(), json_body())
    if body.get("all_full"):
        pairs = full_pairs(integration.id)
    else:
        pairs = [(p["organisation_id"], p["contact_id"].strip()) for p in body["links"]]
    return confirm_pairs(integration, pairs)


def full_pairs(integration_id: str) -> list[tuple[int, str]]:
    """Each full match's organisation and its one candidate."""
    return [(r.organisation_id, str(r.candidates[0]["contact_id"]))
            for r in matches.listed(app_runtime().db, integration_id, "full") if r.candidates]


def confirm_pairs(integration: Integration, pairs: list[tuple[int, str]]) -> tuple[dict[str, Any], int]:
    """200 ``{"linked", "errors"}`` when the look-ups fit in the answer, else 202 ``{"job_id"}``."""
    if integration.status != IntegrationStatus.ACTIVE:
        raise ApiError(409, f"the integration is {integration.status}")
    rt = app_runtime()
    outcome = match_confirm.Outcome()
    wanted = match_confirm.screen(rt.db, integration.id, pairs, outcome)
    calls = match_confirm.lookup_calls(provider_class(integration.provider_kind), len(wanted))
    if calls > match_confirm.ANSWER_NOW_CALLS:
        return _confirm_job(integration, pairs)
    contacts = asking_provider(integration, lambda p: match_confirm.read_contacts(p, wanted))
    match_confirm.link(rt, integration.id, wanted, contacts,
                       match_confirm.names_of(rt.db, integration.id), outcome)
    return {"linked": len(outcome.linked), "errors": outcome.errors}, 200


def _confirm_job(integration: Integration, pairs: list[tuple[int, str]]) -> tuple[dict[str, Any], int]:
    """Too many look-ups to wait for: the same work as a job (202 ``{"job_id"}``)."""
    running = jobs.unfinished(app_runtime().db, integration.id, KIND)
    if running is not None:
        raise ApiError(409, "a match review or confirmation is already under way",
                       extra={"job_id": running.id})
    job = bulk_jobs.start(app_runtime(), integration.id, KIND,
                          state={"options": {"confirm": [list(p) for p in pairs]}})
    return {"job_id": job.id}, 202
