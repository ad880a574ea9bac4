"""Sage Business Cloud Accounting v3.1: the ``SageProvider`` (registered as kind ``sage``)."""
from __future__ import annotations

from providers.sage.client import SageProvider

__all__ = ["SageProvider"]
