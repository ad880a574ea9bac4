"""The environment of a local run: interface §2's variables with ``make run``'s defaults.

What the caller already set always wins; this only fills the gaps: the generated secrets,
SQLite and Redis on this machine, and, when the sandbox runs, every rental-system and
accounting-system URL pointed at its stand-ins so that the demo integrations work offline, and
the web links at the stand-ins' own pages.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

from providers import registry

#: The web port when PORT is unset (interface §2).
DEFAULT_PORT = "8000"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: A local run listens on loopback only; gunicorn.conf.py reads it (production: 0.0.0.0).
LOCAL_WEB_HOST = "127.0.0.1"

#: The URL keys each accounting stand-in publishes in sandbox.json, as ``<PREFIX>_<KEY>``.
PROVIDER_URL_KEYS = ("api_url", "token_url", "authorize_url")


def sandbox_url_vars() -> dict[str, tuple[str, tuple[str, ...]]]:
    """sandbox.json stand-in -> env-var prefix, and the URL keys each one publishes: the
    rental system, then every registered accounting system (its class's ``env_prefix``)."""
    accounting = {kind: (prefix, PROVIDER_URL_KEYS) for kind, prefix in registry.ENV_PREFIXES.items()}
    return {"current_rms": ("CURRENT_RMS", ("api_url",)), **accounting}

#: OAuth app credentials for the stand-ins (they accept any client; the connect flow needs one).
SANDBOX_CLIENT = ("sandbox-client", "sandbox-secret")


def sandbox_variables(sandbox: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """``XERO_API_URL`` and the rest, from the URLs ``python -m sandbox`` wrote."""
    variables: dict[str, str] = {}
    for name, (prefix, keys) in sandbox_url_vars().items():
        if name not in sandbox:  # a system the sandbox has no stand-in for keeps its defaults
            continue
        for key in keys:
            variables[f"{prefix}_{key.upper()}"] = sandbox[name][key]
        # Web links (a contact's, an organisation's) open the stand-in's own pages (issue 16).
        if sandbox[name].get("base_url"):
            variables[f"{prefix}_WEB_URL"] = sandbox[name]["base_url"]
        if name != "current_rms":
            variables[f"{prefix}_CLIENT_ID"], variables[f"{prefix}_CLIENT_SECRET"] = SANDBOX_CLIENT
    return variables


def local_defaults(var_dir: Path, secrets: Mapping[str, str], port: str) -> dict[str, str]:
    return {
        **secrets,
        # An absolute path: the same file whatever directory a process starts in.
        "DATABASE_URL": f"sqlite:///{var_dir / 'app.db'}",
        "REDIS_URL": DEFAULT_REDIS_URL,
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "WEB_HOST": LOCAL_WEB_HOST,
        "VAR_DIR": str(var_dir),
        # Worker, scheduler and web count metrics in files here; /metrics adds them up.
        "PROMETHEUS_MULTIPROC_DIR": str(var_dir / "prometheus"),
        "PYTHONUNBUFFERED": "1",
    }


def build_env(
    base: Mapping[str, str],
    *,
    var_dir: Path,
    secrets: Mapping[str, str],
    bin_dir: Path,
    sandbox: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, str]:
    """``base`` plus every default it lacks; ``bin_dir`` (the venv's) goes first on PATH."""
    env = dict(base)
    env["PORT"] = env.get("PORT") or DEFAULT_PORT
    defaults = local_defaults(var_dir, secrets, env["PORT"])
    if sandbox is not None:
        defaults.update(sandbox_variables(sandbox))
    for name, value in defaults.items():
        if not env.get(name):
            env[name] = value
    env["PATH"] = f"{bin_dir}:{env['PATH']}" if env.get("PATH") else str(bin_dir)
    return env


def service_url(env: Mapping[str, str]) -> str:
    """Where this machine reaches the web process (PUBLIC_URL may be a tunnel's address)."""
    return f"http://127.0.0.1:{env.get('PORT') or DEFAULT_PORT}"
