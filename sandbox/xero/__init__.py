"""A faithful local stand-in of the Xero Accounting API and its OAuth identity service.

See ``app.create_app``; the reference is the providers' API documentation §A and the official spec.
"""
from __future__ import annotations

from sandbox.xero.app import create_app

__all__ = ["create_app"]
