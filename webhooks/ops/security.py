"""Sign-in and CSRF for server-rendered pages (the ops page; shareable with ``/connect``).

Signing in: the admin token, typed once into a form, becomes a signed session cookie
(HttpOnly, SameSite=Lax, Secure behind https; the Flask secret is derived from the admin token,
so changing the token signs everybody out). A ``Authorization: Bearer`` header opens the same
pages without a cookie. Every form carries a per-session CSRF token (synchronizer-token
pattern, OWASP CSRF cheat sheet); a request authorised by a Bearer header needs none, since a
browser never attaches that header by itself.
"""
from __future__ import annotations

import hmac
import secrets
import time
from functools import wraps
from typing import Any, Callable, TypeVar

from flask import current_app, render_template, request, session

from webhooks.auth import bearer_ok

F = TypeVar("F", bound=Callable[..., Any])

#: A signed-in session lasts this long, however active (a stolen cookie does not live forever).
SESSION_SECONDS = 12 * 3600
CSRF_FIELD = "csrf_token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def signed_in() -> bool:
    """A live ops session (signed in with the admin token less than SESSION_SECONDS ago)."""
    since = session.get("signed_in_at")
    return bool(session.get("admin")) and isinstance(since, (int, float)) and time.time() - since < SESSION_SECONDS


def authorised() -> bool:
    return bearer_ok() or signed_in()


def token_matches(offered: str) -> bool:
    expected = current_app.extensions["runtime"].settings.admin_token
    return hmac.compare_digest(offered.strip().encode(), expected.encode())


def sign_in() -> None:
    session.clear()  # a fresh session (and CSRF token) after signing in: no fixation
    session.update(admin=True, signed_in_at=time.time(), csrf=secrets.token_urlsafe(32))


def sign_out() -> None:
    session.clear()


def csrf_token() -> str:
    """This session's CSRF token (made on first use; the sign-in form needs one too)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def csrf_ok() -> bool:
    if request.method in SAFE_METHODS or bearer_ok():
        return True
    offered = request.form.get(CSRF_FIELD) or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf") or ""
    return bool(expected) and hmac.compare_digest(offered.encode(), str(expected).encode())


def sign_in_page(status: int = 401, error: str | None = None) -> tuple[str, int, dict[str, str]]:
    return (render_template("ops/sign_in.html", error=error, next=request.full_path.rstrip("?")),
            status, {"WWW-Authenticate": 'Bearer realm="ops"'})


def ops_required(view: F) -> F:
    """Bearer header or ops session; otherwise 401 with the sign-in form. POSTs need CSRF."""
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not authorised():
            return sign_in_page()
        if not csrf_ok():
            return render_template("ops/message.html", title="Form expired",
                                   message="This form was stale (CSRF check). Go back, reload and try again."), 400
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]

