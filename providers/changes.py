"""Each accounting system's "what changed" module (``providers/<kind>/changes.py``).

Every such module offers ``read_contact``, ``read_contacts`` (batched where the system allows),
``changed_since`` (the ledger poll's query), ``reactivate`` where it can, ``COMPARED`` (the
fields it gives back as written) and ``CAN_REACTIVATE``.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from providers import registry


def changes_for(kind: str) -> ModuleType:
    """``changes.py`` beside the kind's provider class, in the package the registry names."""
    package = registry.PROVIDERS[kind].split(":")[0]
    return importlib.import_module(f"{package}.changes")
