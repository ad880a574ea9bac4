"""One batch create, retried through passing failures without ever writing twice.

The elements whose outcome is unknown (a timeout, a 5xx, a 429, an element the batch answer
left out) are sent again in the same order, so each provider derives the same idempotency keys
from the same bodies (Xero ``Idempotency-Key``, QuickBooks ``requestid``) and a write that did
land is answered from its first reply instead of being made again (docs/architecture.md, step 3). Every
attempt is fenced by the provider's gate right before it is sent (``providers.base.FencedGate``):
a run that stalled past its locks stops.
"""
from __future__ import annotations

import time
from typing import Sequence

import structlog

from core.backoff import backoff
from core.errors import RateLimited, Transient
from core.models import ContactFields
from providers.base import AccountingProvider, BatchResult
from providers.contact_extras import Extras

log = structlog.get_logger(__name__)

#: Failed attempts of one batch before the job stops (it can be started again to resume).
BATCH_ATTEMPTS = 6
#: Pause after the first failed attempt, doubling, never above ``MAX_PAUSE`` seconds.
FIRST_PAUSE = 1.0
MAX_PAUSE = 60.0


def create_with_retries(
    provider: AccountingProvider, items: list[tuple[ContactFields, str]],
    extras: Sequence[Extras | None] | None = None,
) -> list[BatchResult]:
    """One result per item, in order; raises the last ``Transient`` after ``BATCH_ATTEMPTS``.
    ``extras[i]`` (defaults and custom fields) goes with item ``i`` on every attempt."""
    results: list[BatchResult | None] = [None] * len(items)
    waiting = list(range(len(items)))
    failures = 0
    while True:
        try:
            answers = provider.create_contacts(
                [items[i] for i in waiting],
                extras=[extras[i] for i in waiting] if extras is not None else None)
            unknown = [(i, a.error) for i, a in zip(waiting, answers, strict=True) if isinstance(a.error, Transient)]
            for i, answer in zip(waiting, answers, strict=True):
                if not isinstance(answer.error, Transient):
                    results[i] = answer
            if not unknown:
                return [r for r in results if r is not None]
            waiting, error = [i for i, _ in unknown], unknown[0][1]
        except Transient as raised:
            error = raised
        failures = _pause(error, failures)


def _pause(error: Exception, failures: int) -> int:
    """Sleep before the next attempt; returns the count of failed attempts so far."""
    if isinstance(error, RateLimited) and error.status is None:
        # Our own limiter had no room: waiting is not a failure (the call was never made).
        time.sleep(min(error.retry_after, MAX_PAUSE))
        return failures
    failures += 1
    if failures >= BATCH_ATTEMPTS:
        raise error
    pause = backoff(failures, low=FIRST_PAUSE, high=MAX_PAUSE)
    if isinstance(error, RateLimited):
        pause = max(pause, min(error.retry_after, MAX_PAUSE))
    log.info("bulk batch will retry", error=str(error), pause=round(pause, 2), failures=failures)
    time.sleep(pause)
    return failures
