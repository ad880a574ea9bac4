"""Sage's error bodies: a bare JSON array of ``$``-prefixed objects (providers.md §C3).

``[{"$severity": "error", "$dataCode": "<Code>", "$message": "<text>", "$source": "<field>"}]``.
The codes and texts marked "documented" come from Sage's "Frequently Raised Errors" page; the
others are this stand-in's choice where the reference says "unconfirmed".
"""
from __future__ import annotations

import json
from typing import Any

from flask import Response

#: Documented (401): what Sage answers to a refused or expired access token. The documented
#: example text is "No active subscription. (MSE)"; the text for an expired token is unconfirmed.
AUTHORIZATION_FAILURE = "AuthorizationFailure"
#: Observed in Sage's own sample code (sageone_api_php_sample #32): "Couldn't find record."
RECORD_NOT_FOUND = "RecordNotFound"
#: Observed for invalid data (422), ``$source`` naming the field.
RECORD_INVALID = "RecordInvalid"
#: Documented (500): "An unexpected error occurred."
UNEXPECTED_ERROR = "UnexpectedError"
#: Unconfirmed: Sage documents only "429 Too Many Requests … prompts a throttling error".
TOO_MANY_REQUESTS = "TooManyRequests"
#: Unconfirmed code for the 415 that Sage's "Response Codes" page lists.
UNSUPPORTED_MEDIA_TYPE = "UnsupportedMediaType"

#: Unconfirmed text of the duplicate-reference error (providers.md §C3 expects 422 RecordInvalid
#: with ``$source`` "reference"); clients must key on ``$source``, never on this text.
REFERENCE_TAKEN = "Reference has already been taken"


def sage_error(code: str, message: str, source: str = "") -> dict[str, str]:
    return {"$severity": "error", "$dataCode": code, "$message": message, "$source": source}


def error_response(
    status: int, errors: list[dict[str, str]], headers: dict[str, str] | None = None
) -> Response:
    """A Sage error answer: the bare array, JSON, with ``headers`` added."""
    response = Response(json.dumps(errors), status=status, mimetype="application/json")
    response.headers.update(headers or {})
    return response


def one_error(status: int, code: str, message: str, source: str = "", **headers: Any) -> Response:
    return error_response(status, [sage_error(code, message, source)], headers)


def not_found() -> Response:
    return one_error(404, RECORD_NOT_FOUND, "Couldn't find record.")


def unauthorised(message: str = "The access token is invalid or has expired.") -> Response:
    return one_error(401, AUTHORIZATION_FAILURE, message)
