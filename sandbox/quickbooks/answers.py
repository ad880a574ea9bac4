"""How the stand-in answers: JSON with an ``intuit_tid`` header, and faults as their bodies."""
from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from flask import Response, current_app

from sandbox.quickbooks import faults

if TYPE_CHECKING:
    from sandbox.quickbooks.app import QuickBooksSandbox

CONTENT_TYPE = "application/json;charset=UTF-8"


def json_response(body: Any, status: int = 200) -> Response:
    return raw_response(json.dumps(body).encode(), status)


def raw_response(data: bytes, status: int) -> Response:
    # Every QuickBooks answer carries an ``intuit_tid`` (node-quickbooks #14, providers.md §B1).
    response = Response(data, status=status, content_type=CONTENT_TYPE)
    response.headers["intuit_tid"] = str(uuid.uuid4())
    return response


def fault_response(error: faults.FaultError) -> Response:
    return json_response(error.body(), error.status)


def sandbox() -> QuickBooksSandbox:
    return current_app.extensions["sandbox"]
