"""The Current RMS stand-in's app factory (interface §9; the Current RMS API documentation).

Serve it with ``sandbox.runner.ServerThread`` and point ``CURRENT_RMS_API_URL`` at
``<server url>/api/v1``. Accounts are made with ``POST /_sandbox/accounts``.
"""
from __future__ import annotations

from flask import Flask

from sandbox.control import Control
from sandbox.current_rms import pages
from sandbox.current_rms.api import api_blueprint
from sandbox.current_rms.control_routes import install_control_routes
from sandbox.current_rms.delivery import DEFAULT_WEBHOOK_TIMEOUT, WebhookDeliverer
from sandbox.current_rms.state import RentalState
from sandbox.limits import FixedWindow

#: Calls per window per subdomain; 0 is off. The real figures are unconfirmed (reference §2.1).
DEFAULT_RATE_LIMIT = 0
#: Length of the rate-limit window in seconds.
DEFAULT_WINDOW = 60.0


def create_app(*, rate_limit: int = DEFAULT_RATE_LIMIT, window: float = DEFAULT_WINDOW,
               deliver_webhooks: bool = True,
               webhook_timeout: float = DEFAULT_WEBHOOK_TIMEOUT) -> Flask:
    """A fresh stand-in with no accounts; its state is ``app.extensions["sandbox"]``."""
    app = Flask(__name__)
    state = RentalState()
    limiter = FixedWindow(limit=rate_limit, window=window)
    deliverer = WebhookDeliverer(state, enabled=deliver_webhooks, timeout=webhook_timeout)
    control = Control()

    def reset() -> None:
        state.reset()
        limiter.refused.clear()
        limiter.reset()

    control.install(app, reset=reset)
    control.extra_stats = lambda: {**state.stats(), "refused_429": sum(limiter.refused.values())}
    app.register_blueprint(api_blueprint(state, deliverer, limiter))
    install_control_routes(app, state, deliverer)
    pages.install(app, state)
    app.extensions["sandbox"] = state
    app.extensions["sandbox_deliverer"] = deliverer
    app.extensions["sandbox_control"] = control
    return app
