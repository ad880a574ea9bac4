"""QuickBooks Online fault bodies, as the real API writes them (providers.md §B3).

Every refusal is ``{"Fault":{"Error":[{"Message","Detail","code","element"}],"type"},"time"}``.
The stand-in raises ``FaultError`` deep inside its store; the HTTP layer turns it into a
response, and the batch endpoint into a per-item ``Fault`` inside an HTTP 200 (§B3, §B4).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

#: QuickBooks stamps answers in the company's zone; a fixed Pacific offset is close enough.
PACIFIC = timezone(timedelta(hours=-7))


def now_stamp(shift: timedelta = timedelta(0), *, to_the_second: bool = False) -> str:
    """``2015-07-23T10:58:12.099-07:00``, the shape of every ``time`` and ``MetaData`` value
    (``shift``: the store's clock, moved by ``POST /_sandbox/clock``); ``to_the_second``:
    ``2015-07-23T10:58:12-07:00``, as Intuit's documented samples show ``LastUpdatedTime``."""
    stamp = datetime.now(PACIFIC) + shift
    if to_the_second:
        return stamp.strftime("%Y-%m-%dT%H:%M:%S-07:00")
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}-07:00"


class FaultError(Exception):
    """Raised when the stand-in refuses a request; carries everything the fault body needs."""

    def __init__(
        self,
        code: str,
        message: str,
        detail: str,
        *,
        element: str = "",
        status: int = 400,
        fault_type: str = "ValidationFault",
    ) -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.code = code
        self.message = message
        self.detail = detail
        self.element = element
        self.status = status
        self.fault_type = fault_type

    def fault(self) -> dict[str, Any]:
        error = {"Message": self.message, "Detail": self.detail, "code": self.code}
        error["element"] = self.element
        return {"Error": [error], "type": self.fault_type}

    def body(self) -> dict[str, Any]:
        return {"Fault": self.fault(), "time": now_stamp()}


def duplicate_name(existing_id: str) -> FaultError:
    # Current Detail wording, "observed in many integrations" (§B3); element DisplayName observed.
    return FaultError(
        "6240", "Duplicate Name Exists Error",
        f"The name supplied already exists. : Id={existing_id}", element="DisplayName",
    )


def stale_object() -> FaultError:
    # Wording from help.rutter.com (§B3); "XYZ" is the other user's name.
    return FaultError(
        "5010", "Stale Object Error",
        "Stale Object Error : You and Sandbox User were working on this at the same time. "
        "Sandbox User finished before you did, so your work was not saved.",
    )


def not_found() -> FaultError:
    return FaultError(
        "610", "Object Not Found",
        "Object Not Found : Something you're trying to use has been made inactive. "
        "Check the fields with accounts, customers, items, vendors or employees.",
    )


def parse_error(why: str) -> FaultError:
    # Code and Message from python-quickbooks #319 (§B3); the Detail text is ours.
    return FaultError("4000", "Error parsing query", f"QueryParserError: {why}")


def required(name: str) -> FaultError:
    return FaultError(
        "2020", "Required param missing, need to supply the required value for the API",
        f"Required parameter {name} is missing in the request", element=name,
    )


def bad_length(name: str, maximum: int, supplied: int) -> FaultError:
    return FaultError(
        "2050", "String length is either shorter or longer than supported by specification",
        f"String length specified does not match the supported length. Min:0 Max:{maximum} "
        f"supplied length:{supplied}", element=name,
    )


def business_rule(name: str, detail: str) -> FaultError:
    # The rules (no ':' in names, '@' and '.' in e-mail) are in the entity docs (§B2); the code
    # and wording QuickBooks uses for them are unconfirmed: a generic business validation fault.
    return FaultError(
        "6000", "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}", element=name,
    )


def unsupported(name: str) -> FaultError:
    return FaultError(
        "2010", "Request has invalid or unsupported property",
        f"Property Name:{name} specified is unsupported or invalid", element=name,
    )


def batch_too_large(count: int, cap: int) -> FaultError:
    # Invented: the hard server cap and its answer are unconfirmed (§B4: "up to 10" vs "30").
    return FaultError(
        "1040", "Batch size exceeded",
        f"Batch request carries {count} items; the maximum is {cap}",
    )


def throttled() -> dict[str, Any]:
    """The 429 body: code 3001 (§B3, §B5). Deliberately sent without Retry-After."""
    error = {
        "Message": "message=ThrottleExceeded; errorCode=003001; statusCode=429",
        "Detail": "The request limit for this company has been reached; wait 60 seconds.",
        "code": "3001",
    }
    return {"Fault": {"Error": [error], "type": "SERVICE"}, "time": now_stamp()}


def authentication(detail: str, *, lowercase: bool) -> dict[str, Any]:
    """The 401 body, code 3200. QuickBooks sometimes answers with lowercase keys (§B3)."""
    message = "message=AuthenticationFailed; errorCode=003200; statusCode=401"
    if lowercase:
        error = {"message": message, "detail": detail, "code": "3200"}
        return {"fault": {"error": [error], "type": "AUTHENTICATION"}}
    error = {"Message": message, "Detail": detail, "code": "3200"}
    return {"Fault": {"Error": [error], "type": "AuthenticationFault"}, "time": now_stamp()}


def authorization() -> dict[str, Any]:
    """The 403 body, code 3100: the token is good, but not for this company (§B3)."""
    error = {
        "Message": "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
        "Detail": "The application is not authorized to access this company",
        "code": "3100",
    }
    return {"Fault": {"Error": [error], "type": "AuthorizationFault"}, "time": now_stamp()}
