"""Each accounting system's "what changed" module (``providers/<kind>/changes.py``).

Every such module offers ``read_contact``, ``read_contacts`` (batched where the system allows),
``changed_since`` (the ledger poll's query), ``reactivate`` where it can, ``COMPARED`` (the
fields it gives back as written) and ``CAN_REACTIVATE``.
"""
from __future__ import annotations

import importlib
from types import ModuleType

MODULES = {
    "xero": "providers.xero.changes",
    "quickbooks": "providers.quickbooks.changes",
    "sage": "providers.sage.changes",
}


def changes_for(kind: str) -> ModuleType:
    return importlib.import_module(MODULES[kind])
