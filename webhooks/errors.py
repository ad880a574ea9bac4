"""One API error type, turned into ``{"error": ..., "fields": ...}`` with its status.

Every path out of a view is a JSON answer with a 4xx for bad input; an unexpected exception is
logged and answered 500 without detail (none is expected: the fuzz tests look for them).
"""
from __future__ import annotations

from typing import Any

import structlog
from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException, MethodNotAllowed

log = structlog.get_logger(__name__)


class ApiError(Exception):
    """Raised by views for any refusal; ``status`` is the HTTP status."""

    def __init__(
        self, status: int, error: str, *, fields: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.fields = fields
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        """The JSON answer: ``{"error": ..., "fields": ...}`` and any extra keys."""
        body: dict[str, Any] = {"error": self.error, **self.extra}
        if self.fields is not None:
            body["fields"] = self.fields
        return body

    def response(self) -> Response:
        response = jsonify(self.body())
        response.status_code = self.status
        response.headers.update(self.headers)
        return response


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error.response()

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        response = jsonify({"error": error.description or error.name})
        response.status_code = error.code or 500
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            # RFC 9110 §15.5.6: a 405 names the methods the resource supports.
            response.headers["Allow"] = ", ".join(sorted(error.valid_methods))
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error in a request")
        response = jsonify({"error": "internal error"})
        response.status_code = 500
        return response
