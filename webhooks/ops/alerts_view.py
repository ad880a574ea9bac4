"""``/ops/alerts``: where alerts go (receivers, signing, digest period; never a secret) and
the alerts recorded, with how their delivery went (interface §12)."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app, render_template

from core.alert_settings import AlertSettings, alert_settings
from core.alerts import store
from core.db import Database
from core.tables import Alert
from webhooks.ops import blueprint
from webhooks.ops.security import ops_required

SHOWN = 100


@blueprint.get("/alerts")
@ops_required
def alerts_page() -> Any:
    settings = alert_settings()
    return render_template("ops/alerts.html", config=describe(settings),
                           alerts=recent(current_app.extensions["runtime"].db, SHOWN))


def recent(db: Database, limit: int) -> list[Alert]:
    rows, _ = store.page(db, store.AlertFilter(), limit=limit, cursor=None)
    return rows


def describe(settings: AlertSettings) -> dict[str, Any]:
    """The settings as an operator may see them: hosts, not URLs (a Slack URL is a secret)."""
    return {
        "webhooks": [urlsplit(url).hostname or "?" for url in settings.webhook_urls],
        "signed": bool(settings.signing_secret),
        "smtp": f"{settings.smtp.host}:{settings.smtp.port}" if settings.smtp else None,
        "emails": list(settings.emails),
        "digest_minutes": settings.digest_minutes,
        "check_seconds": settings.check_seconds,
        "any": settings.has_receivers,
    }
