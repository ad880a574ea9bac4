"""Stand-in of Sage Business Cloud Accounting v3.1 (providers.md §C): ``create_app``."""
from __future__ import annotations

from sandbox.sage.app import create_app

__all__ = ["create_app"]
