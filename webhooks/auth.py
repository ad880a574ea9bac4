"""Admin authentication: ``Authorization: Bearer <ADMIN_TOKEN>``, compared in constant time."""
from __future__ import annotations

import hmac
from functools import wraps
from typing import Any, Callable, TypeVar

from flask import current_app, request, session

from webhooks.errors import ApiError

F = TypeVar("F", bound=Callable[..., Any])


def bearer_ok() -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, offered = header.partition(" ")
    expected = current_app.extensions["runtime"].settings.admin_token
    return scheme.lower() == "bearer" and hmac.compare_digest(offered.strip().encode(), expected.encode())


def session_ok() -> bool:
    """The ops page's signed session cookie, set after signing in with the admin token."""
    return bool(session.get("admin"))


def admin_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not bearer_ok():
            raise ApiError(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
