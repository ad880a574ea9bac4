"""The HTTP edge: the webhook receiver, the admin API, the ops page, metrics and health.

``create_app`` is the Flask app factory (gunicorn serves ``webhooks.wsgi:app``).
"""
from __future__ import annotations

import hashlib
import importlib
from typing import Any

from flask import Flask, Response, request

from core import logging as app_logging
from core import runtime as runtime_module
from core.runtime import Runtime
from core.settings import Settings


def create_app(test_config: dict[str, Any] | None = None, *, rt: Runtime | None = None) -> Flask:
    """Build the app. ``rt`` (tests) or the environment (everywhere else) supplies the runtime;
    a missing or malformed setting stops here with a message naming the variable."""
    app_logging.configure()
    if rt is None:
        rt = Runtime.from_settings(Settings.from_env())
    runtime_module.install(rt)
    # A malformed alert setting stops the process here too, naming the variable.
    importlib.import_module("core.alert_settings").alert_settings()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=hashlib.sha256(b"ops-session:" + rt.settings.admin_token.encode()).hexdigest(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=rt.settings.public_url.startswith("https://"),
        JSON_SORT_KEYS=False,
    )
    app.config.update(test_config or {})
    app.extensions["runtime"] = rt
    _register(app)
    importlib.import_module("webhooks.cli").init_app(app)
    importlib.import_module("webhooks.cli_bulk").init_app(app)
    app.after_request(_security_headers)
    # The webhook's POST is served in front of Flask (webhooks/receiver.py says why).
    receiver = importlib.import_module("webhooks.receiver")
    app.wsgi_app = receiver.WebhookIngress(app.wsgi_app, rt, SECURITY_HEADERS)  # type: ignore[method-assign]
    return app


#: Every module that contributes a ``blueprint``, one per line (add yours here).
BLUEPRINT_MODULES = (
    "webhooks.receiver",
    "webhooks.api_integrations",
    "webhooks.api_events",
    "webhooks.api_links",
    "webhooks.health",
    "webhooks.metrics_view",
    "webhooks.ops",
    "webhooks.openapi",
    "webhooks.connect",
    "webhooks.api_csv",
    "webhooks.api_jobs",
    "webhooks.api_alerts",
    "webhooks.api_matches",
    "webhooks.ledger_receiver",
    "webhooks.api_ledger",
)


def _register(app: Flask) -> None:
    import importlib

    from webhooks import errors

    errors.init_app(app)
    for name in BLUEPRINT_MODULES:
        app.register_blueprint(importlib.import_module(name).blueprint)


#: Headers on every answer, unless the view set its own.
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy",
     "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
)


def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS:
        response.headers.setdefault(name, value)
    if request.path.startswith(("/api/", "/ops", "/connect")):
        response.headers["Cache-Control"] = "no-store"
    return response
