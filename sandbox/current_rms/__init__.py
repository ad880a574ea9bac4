"""A faithful local stand-in of the Current RMS API: members, webhooks and their deliveries.

``create_app(...)`` builds it (see ``sandbox.current_rms.app``); modules: ``records`` (the member
read shape and write bodies), ``query`` (``GET /members`` filters and paging), ``state`` (the
thread-safe store), ``delivery`` (webhook POSTs from a background thread), ``api`` (the
``/api/v1`` routes) and ``control_routes`` (``/_sandbox/`` seeds and web-UI edits).
"""
from __future__ import annotations

from sandbox.current_rms.app import create_app

__all__ = ["create_app"]
