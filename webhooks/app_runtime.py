"""The runtime a request or a command runs with: the one ``create_app`` attached to the app."""
from __future__ import annotations

from flask import current_app

from core.runtime import Runtime

#: Where ``create_app`` keeps the runtime among the app's extensions.
EXTENSION = "runtime"


def app_runtime() -> Runtime:
    rt: Runtime = current_app.extensions[EXTENSION]
    return rt
