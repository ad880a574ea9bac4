"""``/healthz`` (the process is up) and ``/readyz`` (database and Redis answer), both open; and
``/favicon.ico``, which every browser asks for."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app

from core.runtime import Runtime

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@blueprint.get("/readyz")
def readyz() -> tuple[dict[str, Any], int]:
    rt: Runtime = current_app.extensions["runtime"]
    checks = {"database": _check(rt.db.ping), "redis": _check(rt.redis.ping)}
    ready = all(value == "ok" for value in checks.values())
    return {"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503


FAVICON = (Path(__file__).parent / "ops" / "static" / "favicon.svg").read_bytes()


@blueprint.get("/favicon.ico")
def favicon() -> Response:
    return Response(FAVICON, content_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})


def _check(probe: Any) -> str:
    try:
        probe()
    except Exception as error:  # any failure means "not ready"; say which kind
        return f"error: {type(error).__name__}"
    return "ok"
