"""``/api/integrations/<id>/links``: the links of an integration with their web addresses."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, request

from core.store import links
from webhooks.api_integrations import found
from webhooks.auth import admin_required
from webhooks.errors import ApiError
from webhooks.views import link_view

blueprint = Blueprint("api_links", __name__, url_prefix="/api/integrations")


@blueprint.get("/<integration_id>/links")
@admin_required
def list_links(integration_id: str) -> dict[str, Any]:
    integration = found(integration_id)
    organisation = request.args.get("organisation_id")
    if organisation is not None and (not organisation.isdigit() or len(organisation) > 19):
        raise ApiError(400, "invalid query", fields={"organisation_id": ["must be a positive integer"]})
    rows = links.all_of(current_app.extensions["runtime"].db, integration.id,
                        int(organisation) if organisation else None)
    return {"links": [link_view(link) for link in rows]}
