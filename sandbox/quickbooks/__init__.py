"""A faithful local stand-in of the QuickBooks Online v3 Accounting API (providers.md §B)."""
from __future__ import annotations

from sandbox.quickbooks.app import QuickBooksSandbox, create_app

__all__ = ["QuickBooksSandbox", "create_app"]
