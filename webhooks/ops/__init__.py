"""``/ops``: the operators' page (interface §8), server-rendered with Jinja, no front-end build.

Pages (``pages``) answer "is it healthy?" and "what failed and why?"; actions (``actions``)
"make it right": replay one or all failed, link by hand, register webhooks again; ``bulk``
starts exports and imports, takes and gives the links CSV and follows their jobs. Reference
points: Sidekiq's web UI (retry one or all, queue latency) and Hookdeck's / Svix's event logs.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint

from webhooks.ops import formatting, security

blueprint = Blueprint(
    "ops", __name__, url_prefix="/ops", template_folder="templates",
    static_folder="static", static_url_path="/static",
)


@blueprint.context_processor
def _template_globals() -> dict[str, Any]:
    return {"csrf_token": security.csrf_token, "CSRF_FIELD": security.CSRF_FIELD, **formatting.HELPERS}


from webhooks.ops import (  # noqa: E402,F401 - their routes join the blueprint
    actions,
    alerts_view,
    broken_links,
    bulk,
    health_page,
    matches,
    pages,
    resolution,
    workers_view,
)
