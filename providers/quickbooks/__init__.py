"""QuickBooks Online (v3 Accounting API) provider."""
from __future__ import annotations

from providers.quickbooks.client import QuickBooksProvider

__all__ = ["QuickBooksProvider"]
