"""The ops page's match review (interface §11): start a review, read it grouped full / partial /
none with candidate names, what they matched on and web links, download it as CSV, confirm
every full match at once and pick each partial one by hand.

Each action calls the admin API's own functions (``webhooks.api_matches``,
``workers.bulk.match_confirm``), so page and API keep the same checks; what differs is the
answer: a flash message on the page, never a JSON error.
"""
from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from core.matching import MATCH_KINDS, match_on_of
from core.models import IntegrationStatus, JobStatus
from core.store import jobs, matches
from webhooks import api_matches
from webhooks.api_integrations import found
from webhooks.errors import ApiError
from webhooks.ops import blueprint
from webhooks.ops.pages import rt
from webhooks.ops.security import ops_required
from workers.bulk import jobs as bulk_jobs


def _back(integration_id: str, kind: str | None = None) -> Response:
    return redirect(url_for("ops.match_review", integration_id=integration_id, kind=kind))


@blueprint.get("/integrations/<integration_id>/matches")
@ops_required
def match_review(integration_id: str) -> Any:
    try:
        integration = found(integration_id)
    except ApiError as error:
        return render_template("ops/message.html", title="No such integration", message=error.error), 404
    kind = request.args.get("kind") if request.args.get("kind") in MATCH_KINDS else None
    latest = next((j for j in jobs.recent(rt().db, integration_id=integration.id, limit=20)
                   if j.kind == api_matches.KIND), None)
    return render_template(
        "ops/matches.html", integration=integration, kind=kind, kinds=MATCH_KINDS,
        rows=matches.listed(rt().db, integration.id, kind, limit=1000),
        counts=matches.counts(rt().db, integration.id), job=latest,
        match_on=match_on_of(integration.policies),
        refresh=latest is not None and latest.status in JobStatus.unfinished())


@blueprint.post("/integrations/<integration_id>/match")
@ops_required
def start_match_review(integration_id: str) -> Response:
    integration = found(integration_id)
    running = jobs.unfinished(rt().db, integration.id, api_matches.KIND)
    if integration.status != IntegrationStatus.ACTIVE:
        flash(f"Not started: the integration is {integration.status}.", "error")
    elif running is not None:
        flash(f"Not started: a review is already under way (job {running.id}).", "warning")
    else:
        job = bulk_jobs.start(rt(), integration.id, api_matches.KIND, state={"options": {}})
        flash(f"Review started (job {job.id}); nothing is written to the accounting system.", "ok")
    return _back(integration_id)


@blueprint.post("/integrations/<integration_id>/matches/confirm")
@ops_required
def confirm_matches(integration_id: str) -> Response:
    """``all_full=1``, or one partial: ``organisation_id`` and the ``contact_id`` picked."""
    integration = found(integration_id)
    if request.form.get("all_full"):
        pairs = api_matches.full_pairs(integration.id)
    else:
        organisation, contact = request.form.get("organisation_id", ""), request.form.get("contact_id", "")
        if not organisation.isdigit() or not contact.strip():
            flash("Pick one of the candidates first.", "warning")
            return _back(integration_id, "partial")
        pairs = [(int(organisation), contact.strip())]
    try:
        answer, status = api_matches.confirm_pairs(integration, pairs)
    except ApiError as error:
        flash(f"Not linked: {error.error}.", "error")
        return _back(integration_id, request.form.get("back") or None)
    if status == 202:
        flash(f"Linking {len(pairs)} organisations in job {answer['job_id']}; progress shows under Bulk "
              "on the integration's page.", "ok")
    else:
        for problem in answer["errors"]:
            flash(f"Organisation {problem['organisation_id']}: {problem['error']}.", "error")
        if answer["linked"]:
            flash(f"Linked {answer['linked']} organisation(s); each syncs now.", "ok")
    return _back(integration_id, request.form.get("back") or None)


@blueprint.get("/integrations/<integration_id>/matches.csv")
@ops_required
def download_matches(integration_id: str) -> Any:
    """The same CSV as ``GET /api/integrations/<id>/matches.csv``, for a signed-in browser."""
    try:
        return api_matches.matches_csv(integration_id)
    except ApiError as error:
        return render_template("ops/message.html", title="No review CSV", message=error.error), error.status
