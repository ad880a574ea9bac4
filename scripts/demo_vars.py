"""Shell variables for trying the demo of a running ``make run`` by hand (the README's walk-throughs).

``eval "$(.venv/bin/python -m scripts.demo_vars)"`` sets:

- ``SERVICE`` (``http://127.0.0.1:$PORT``) and ``ADMIN_TOKEN`` (from ``var/secrets.env``);
- ``RENTAL``, ``XERO``, ``QUICKBOOKS``, ``SAGE``: each stand-in's base URL (``var/sandbox.json``,
  written while the sandbox runs);
- ``MEMBER``: the demo organisation's id; ``<PREFIX>_ID`` and ``<PREFIX>_TENANT`` for each demo
  integration (``var/demo.json``; ``XERO_ID``, ``QUICKBOOKS_TENANT``, ...).

Every value is quoted for the shell. Nothing is printed for a file that does not exist yet.
"""
from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from providers import registry
from scripts.dev_env import DEFAULT_PORT
from scripts.local_redis import var_dir
from scripts.local_secrets import read_env_file


def stand_in_variables() -> dict[str, str]:
    """sandbox.json stand-in -> the variable holding its base URL: ``RENTAL``, then each
    accounting system's environment prefix (``XERO``, ``QUICKBOOKS``, ``SAGE``)."""
    return {"current_rms": "RENTAL", **dict(registry.ENV_PREFIXES)}


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def variables(folder: Path, environ: dict[str, str]) -> dict[str, str]:
    found = {"SERVICE": f"http://127.0.0.1:{environ.get('PORT') or DEFAULT_PORT}"}
    token = environ.get("ADMIN_TOKEN") or read_env_file(folder / "secrets.env").get("ADMIN_TOKEN")
    if token:
        found["ADMIN_TOKEN"] = token
    sandbox = _json(folder / "sandbox.json")
    for name, variable in stand_in_variables().items():
        if name in sandbox:
            found[variable] = sandbox[name]["base_url"]
    demo = _json(folder / "demo.json")
    if demo.get("rental", {}).get("member_id"):
        found["MEMBER"] = str(demo["rental"]["member_id"])
    for kind, entry in (demo.get("integrations") or {}).items():
        prefix = registry.ENV_PREFIXES[kind]
        found[f"{prefix}_ID"] = str(entry["id"])
        found[f"{prefix}_TENANT"] = str(entry["tenant"])
    return found


def main() -> int:
    for name, value in variables(var_dir(), dict(os.environ)).items():
        print(f"{name}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
