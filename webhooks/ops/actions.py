"""The ops page's actions: sign in and out, replay one or all failed, link by hand, unlink,
register webhooks again. Each is a POST with a CSRF token that redirects back (PRG)."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import flash, redirect, request, url_for
from werkzeug.wrappers import Response

from core.link_wording import already_linked_elsewhere
from core.models import EventStatus
from core.store import events, integrations, links
from core.store.links import ContactAlreadyLinked, LinkWrite
from providers import webhook_registration
from webhooks import api_links
from webhooks.errors import ApiError
from webhooks.ops import blueprint, security
from webhooks.ops.pages import failed_filter, rt
from webhooks.ops.security import ops_required
from workers import replay

#: An event in one of these is run already: pressing replay does nothing.
OWED_NOW = (EventStatus.QUEUED, EventStatus.PROCESSING)


@blueprint.get("/sign-in")
def sign_in_form() -> Any:
    """The sign-in form as a page of its own, answering 200 (``/ops`` without credentials
    answers 401 with the same form, interface §8)."""
    if security.authorised():
        return redirect(_local(request.args.get("next")) or url_for("ops.overview"))
    return security.sign_in_page()[0], 200


@blueprint.post("/sign-in")
def sign_in() -> Any:
    if not security.csrf_ok():
        return security.sign_in_page(400, "The form had expired; please sign in again.")
    if not security.token_matches(request.form.get("token", "")):
        return security.sign_in_page(401, "That is not the admin token.")
    security.sign_in()
    return redirect(_local(request.form.get("next")) or url_for("ops.overview"))


def _local(target: str | None) -> str | None:
    """Only a path on this site (no open redirect)."""
    if not target or not target.startswith("/ops") or urlsplit(target).netloc or "\\" in target:
        return None
    return target


@blueprint.post("/sign-out")
@ops_required
def sign_out() -> Response:
    security.sign_out()
    return redirect(url_for("ops.sign_in_form"))


@blueprint.post("/events/<event_id>/replay")
@ops_required
def replay_one(event_id: str) -> Any:
    event = events.get(rt().db, event_id)
    if event is None:
        flash(f"There is no event {event_id}.", "error")
        return redirect(url_for("ops.overview"))
    # The replay itself is conditional (never twice); reading the status first only words
    # the message, since "queued" is also what an event already owed answers.
    status = event.status if event.status in OWED_NOW else replay.replay_event(rt(), event_id)
    if status == EventStatus.QUEUED and event.status not in OWED_NOW:
        flash("Replay queued: the organisation's current state is being synced again.", "ok")
    else:
        flash(f"Not replayed: the event is already {status}.", "warning")
    return redirect(url_for("ops.event_page", event_id=event_id))


@blueprint.post("/replay")
@ops_required
def replay_failed() -> Response:
    filters = failed_filter(request.form)
    count = replay.replay_matching(rt(), filters)
    flash(f"{count} failed event{'s' if count != 1 else ''} queued again.", "ok")
    target: dict[str, Any] = {"status": EventStatus.QUEUED.value, "integration": filters.integration_id or ""}
    return redirect(url_for("ops.overview", **{k: v for k, v in target.items() if v}))


@blueprint.post("/integrations/<integration_id>/links")
@ops_required
def link_by_hand(integration_id: str) -> Response:
    integration = integrations.get(rt().db, integration_id)
    back = redirect(url_for("ops.integration_page", integration_id=integration_id))
    if integration is None:
        flash("There is no such integration.", "error")
        return back
    try:
        organisation, contact_id = _link_form(request.form)
        _link(integration, organisation, contact_id)
    except ApiError as error:
        flash(error.error, "error")
        return back
    flash(f"Organisation {organisation} linked to contact {contact_id}; syncing it now.", "ok")
    return back


def _link_form(form: Any) -> tuple[int, str]:
    raw = (form.get("organisation_id") or "").strip()
    if not raw.isdigit() or len(raw) > 19 or int(raw) < 1:
        raise ApiError(400, "The organisation id is the number in its Current RMS address.")
    contact_id = (form.get("contact_id") or "").strip()
    if not contact_id or len(contact_id) > 64:
        raise ApiError(400, "Choose a contact (type three letters of its name).")
    return int(raw), contact_id


def _link(integration: Any, organisation: int, contact_id: str) -> None:
    """As ``PUT /api/integrations/<id>/links/<organisation>``: check, save, sync at once."""
    contact = api_links.asking_provider(
        integration, lambda p: p.get_contact(contact_id) if p.valid_contact_id(contact_id) else None)
    if contact is None:
        raise ApiError(422, f"There is no contact {contact_id} in the accounting system.")
    existing = links.get(rt().db, integration.id, organisation)
    try:
        links.save(rt().db, LinkWrite(
            integration_id=integration.id, organisation_id=organisation,
            organisation_name=existing.organisation_name if existing else "",
            contact=contact, fields_hash=None))
    except ContactAlreadyLinked as error:
        raise ApiError(409, already_linked_elsewhere(contact, error.link, organisation,
                                                     existing.organisation_name if existing else "")) from None
    replay.sync_after_link(rt(), integration.id, organisation, via="ops")


@blueprint.post("/integrations/<integration_id>/links/<int:organisation_id>/delete")
@ops_required
def unlink(integration_id: str, organisation_id: int) -> Response:
    removed = links.remove(rt().db, integration_id, organisation_id)
    flash(f"Organisation {organisation_id} unlinked." if removed else "There was no such link.",
          "ok" if removed else "warning")
    return redirect(url_for("ops.integration_page", integration_id=integration_id))


@blueprint.post("/integrations/<integration_id>/register-webhooks")
@ops_required
def register_webhooks(integration_id: str) -> Response:
    integration = integrations.get(rt().db, integration_id)
    if integration is None:
        flash("There is no such integration.", "error")
        return redirect(url_for("ops.overview"))
    # As the admin API: the secret is not stored in clear, so a new one is made (the old one
    # stays valid for 24 hours) and the webhooks point at it.
    rotated = integrations.rotate_webhook_token(rt().db, integration.id)
    current = integrations.get(rt().db, integration.id)
    if rotated is None or current is None:  # deleted since the read above
        flash("There is no such integration.", "error")
        return redirect(url_for("ops.overview"))
    url = webhook_registration.webhook_url(rt(), integration.id, rotated[0])
    ok = webhook_registration.register(rt(), current, url)
    flash("Webhooks registered." if ok else "The rental system refused the webhooks; see the error.",
          "ok" if ok else "error")
    return redirect(url_for("ops.integration_page", integration_id=integration_id))
