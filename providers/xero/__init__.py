"""Xero: contacts through the Accounting API v2 (providers.md §A)."""
from __future__ import annotations

from providers.xero.client import XeroProvider

__all__ = ["XeroProvider"]
