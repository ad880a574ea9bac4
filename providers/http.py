"""One HTTP seam for every outbound call: timeouts, rate-limit gate, 401 refresh, metrics.

Providers call ``ApiClient.request`` and translate the bodies of refused answers themselves
(``error_for``); what is common to all systems is handled here: network faults and 5xx become
``Transient``, 429 becomes ``RateLimited`` (with its ``Retry-After``), a 401 refreshes the
access token once and tries again, then becomes ``CredentialsRefused``.
"""
from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any, Callable

import requests
import structlog

from core import metrics
from core.errors import CredentialsRefused, ProviderError, RateLimited, Rejected, Transient
from providers.base import CallGate, TokenSource

log = structlog.get_logger(__name__)

#: Seconds to wait after a 429 that names no Retry-After (QuickBooks: "wait 60 seconds").
DEFAULT_RETRY_AFTER = 60.0

ErrorTranslator = Callable[[requests.Response], ProviderError | None]


def parse_retry_after(value: str | None, default: float = DEFAULT_RETRY_AFTER) -> float:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return default


class ApiClient:
    """A ``requests`` session bound to one system, one base URL and one tenant's gate."""

    def __init__(
        self,
        *,
        system: str,
        base_url: str,
        timeout: tuple[float, float],
        tokens: TokenSource | None = None,
        gate: CallGate | None = None,
        headers: dict[str, str] | None = None,
        error_for: ErrorTranslator | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.system = system
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.tokens = tokens
        self.gate = gate
        self.error_for = error_for or (lambda response: None)
        self.session = session or requests.Session()
        self.session.headers.update({"Accept": "application/json", **(headers or {})})

    def request(
        self,
        method: str,
        path: str,
        *,
        batch: bool = False,
        expect: tuple[int, ...] = (200, 201, 204),
        **kwargs: Any,
    ) -> requests.Response:
        """Send one request; return the response when its status is in ``expect``."""
        response = self._send(method, path, batch=batch, **kwargs)
        if response.status_code == 401 and self.tokens is not None:
            rejected = _bearer(response.request.headers)
            self.tokens.refresh_after_rejection(rejected)
            response = self._send(method, path, batch=batch, **kwargs)
        if response.status_code in expect:
            return response
        raise self._error(response)

    def _send(self, method: str, path: str, *, batch: bool, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if self.tokens is not None:
            headers["Authorization"] = f"Bearer {self.tokens.access_token()}"
        slot = self.gate.acquire(batch=batch) if self.gate is not None else None
        url = path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"
        started = time.perf_counter()
        try:
            response = self.session.request(
                method, url, headers=headers, timeout=self.timeout, **kwargs
            )
        except requests.Timeout as error:
            metrics.provider_call(self.system, "timeout", time.perf_counter() - started)
            raise Transient(f"{method} {path} timed out", system=self.system) from error
        except requests.RequestException as error:
            metrics.provider_call(self.system, "network", time.perf_counter() - started)
            raise Transient(
                f"{method} {path} failed: {type(error).__name__}", system=self.system
            ) from error
        finally:
            if slot is not None and self.gate is not None:
                self.gate.release(slot)
        metrics.provider_call(self.system, str(response.status_code), time.perf_counter() - started)
        if response.status_code == 429 and self.gate is not None:
            self.gate.penalise(self._retry_after(response))
        return response

    def _retry_after(self, response: requests.Response) -> float:
        return parse_retry_after(response.headers.get("Retry-After"))

    def _error(self, response: requests.Response) -> ProviderError:
        """The typed error for a refused answer: the provider's own reading first."""
        body = response.text[:2000]
        specific = self.error_for(response)
        if specific is not None:
            return specific
        status = response.status_code
        message = f"{response.request.method} {response.request.path_url.split('?')[0]}"
        if status == 429:
            return RateLimited(
                message, retry_after=self._retry_after(response), system=self.system,
                status=status, body=body,
            )
        if status == 401 or status == 403:
            return CredentialsRefused(message, system=self.system, status=status, body=body)
        if status >= 500 or status in (408, 409, 423):
            return Transient(message, system=self.system, status=status, body=body)
        # Any other 4xx: the request itself was refused, which a retry will not change.
        return Rejected(
            message, system=self.system, status=status, body=body,
            reason=f"{self.system} refused the request (HTTP {status})",
        )


def _bearer(headers: Any) -> str:
    value = str(headers.get("Authorization", ""))
    return value.removeprefix("Bearer ")
