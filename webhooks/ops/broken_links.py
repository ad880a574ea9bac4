"""The ops page's broken links (interface §10): a contact archived or deleted in the accounting
system under ``on_contact_archived: flag``. Four ways out, each one the service already has:

- relink: "Link by hand" (``actions.link_by_hand``, with its auto-suggest), which clears the
  broken status because the link now names another contact (``links.save``);
- unlink: ``actions.unlink``;
- reactivate, recreate: a ledger event, recorded and run as every change seen in the accounting
  system (``ledger_intake.record_change``, the ledger worker, ``core.ledger.decide_change``),
  with that archive policy applied to this one change (``workers.ledger.chosen_policies``).
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask import flash, redirect, url_for
from werkzeug.wrappers import Response

from core.ledger import ChangeSeen
from core.store import integrations, links
from webhooks.ops import blueprint
from webhooks.ops.pages import rt
from webhooks.ops.security import ops_required
from workers.ledger import VIA_OPS
from workers.ledger_intake import record_change

#: The ledger actions the ops page offers on a broken link, and what each flash says.
ACTIONS = {"reactivate": "make the contact active again", "recreate": "create a fresh contact and link it"}


@blueprint.post("/integrations/<integration_id>/links/<int:organisation_id>/<any(reactivate, recreate):action>")
@ops_required
def repair_link(integration_id: str, organisation_id: int, action: str) -> Response:
    back = redirect(url_for("ops.integration_page", integration_id=integration_id))
    if action not in ACTIONS:
        flash(f"There is no action {action!r} for a link.", "error")
        return back
    if integrations.get(rt().db, integration_id) is None:
        flash("There is no such integration.", "error")
        return back
    link = links.get(rt().db, integration_id, organisation_id)
    if link is None:
        flash("There was no such link.", "warning")
        return back
    change = ChangeSeen(contact_id=link.contact_id, changed_at=datetime.now(timezone.utc),
                        via=VIA_OPS, operation=action)
    event_id = record_change(rt(), integration_id, change)
    if event_id is None:
        flash(f"A change of contact {link.contact_id} is already being processed; "
              "try again when it has finished.", "warning")
        return back
    flash(f"Asked to {ACTIONS[action]} for organisation {organisation_id}.", "ok")
    return redirect(url_for("ops.event_page", event_id=event_id))
