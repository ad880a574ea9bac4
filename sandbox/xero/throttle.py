"""Xero's rate limits per tenant: concurrent, minute, day, plus the app-wide minute (A5).

Windows are fixed and per tenant (``sandbox.limits.FixedWindow``). Every tenant call is answered
with the three ``X-*Limit-Remaining`` headers; past a limit the answer is 429 with
``X-Rate-Limit-Problem`` and ``Retry-After`` (seconds until that window resets).
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from sandbox.limits import FixedWindow

MINUTE_LIMIT = 60  #: calls per tenant per minute (A5)
DAY_LIMIT = 5000  #: calls per tenant per day (A5)
APP_MINUTE_LIMIT = 10_000  #: calls per app per minute, across tenants (A5)
CONCURRENT_LIMIT = 5  #: calls in progress per tenant (A5)
DAY_WINDOW = 24 * 3600.0
#: ``Retry-After`` for the concurrent limit, which has no window: unconfirmed (A5 names only
#: minute and day breaches as carrying one). One second is the safer hint for a client.
CONCURRENT_RETRY_AFTER = 1
APP_KEY = "app"


@dataclass(frozen=True)
class Refusal:
    """Why a call is refused: the ``X-Rate-Limit-Problem`` value and the wait in seconds."""

    problem: str
    retry_after: int


class Throttle:
    """Counts calls per tenant and says whether one more may run now."""

    def __init__(
        self, *, minute_limit: int = MINUTE_LIMIT, window: float = 60.0,
        day_limit: int = DAY_LIMIT, day_window: float = DAY_WINDOW,
        app_minute_limit: int = APP_MINUTE_LIMIT, concurrent_limit: int = CONCURRENT_LIMIT,
    ) -> None:
        self.minute = FixedWindow(minute_limit, window)
        self.day = FixedWindow(day_limit, day_window)
        self.app = FixedWindow(app_minute_limit, window)
        self.concurrent_limit = concurrent_limit
        self.in_flight: dict[str, int] = {}
        self.refused_concurrent = 0
        self._lock = threading.Lock()

    def enter(self, tenant: str) -> Refusal | None:
        """Admit one call of ``tenant`` (then ``leave`` when done), or say why not."""
        with self._lock:
            if self.concurrent_limit and self.in_flight.get(tenant, 0) >= self.concurrent_limit:
                self.refused_concurrent += 1
                return Refusal("concurrent", CONCURRENT_RETRY_AFTER)
            refusal = self._count(tenant)
            if refusal is None:
                self.in_flight[tenant] = self.in_flight.get(tenant, 0) + 1
            return refusal

    def _count(self, tenant: str) -> Refusal | None:
        # The day is checked before the minute is spent, so a call refused for the day
        # does not also use up the minute.
        if self.day.limit and self.day.remaining(tenant) == 0:
            return Refusal("day", _seconds(self.day.hit(tenant)))
        for problem, window, key in (("minute", self.minute, tenant), ("appminute", self.app, APP_KEY)):
            wait = window.hit(key)
            if wait is not None:
                # "appminute" as the problem name is unconfirmed (A5).
                return Refusal(problem, _seconds(wait))
        self.day.hit(tenant)
        return None

    def leave(self, tenant: str) -> None:
        with self._lock:
            self.in_flight[tenant] = max(0, self.in_flight.get(tenant, 0) - 1)

    def headers(self, tenant: str) -> dict[str, str]:
        return {
            "X-DayLimit-Remaining": str(self.day.remaining(tenant)),
            "X-MinLimit-Remaining": str(self.minute.remaining(tenant)),
            "X-AppMinLimit-Remaining": str(self.app.remaining(APP_KEY)),
        }

    def refused(self) -> int:
        """Every 429 answered so far."""
        windows = (self.minute, self.day, self.app)
        return self.refused_concurrent + sum(sum(w.refused.values()) for w in windows)

    def reset(self) -> None:
        for window in (self.minute, self.day, self.app):
            with window._lock:
                window._counts.clear()
                window.refused.clear()
        with self._lock:
            self.refused_concurrent = 0


def _seconds(wait: float | None) -> int:
    return max(1, math.ceil(wait or 0))
