"""Prometheus metrics, declared in one place (interface §8 ``/metrics``).

Counters live in each process; ``/metrics`` on the web process adds the figures that are read
from the database and Redis at scrape time (events by status, queue depth) so that they are
right whichever process did the work.
"""
from __future__ import annotations

from prometheus_client import Counter, Histogram

PROVIDER_CALLS = Counter(
    "provider_calls_total", "Calls to other systems, by system and status code",
    ["system", "status"],
)
PROVIDER_CALL_SECONDS = Histogram(
    "provider_call_seconds", "Duration of calls to other systems", ["system"],
)
SYNC_SECONDS = Histogram(
    "sync_duration_seconds", "Duration of one organisation sync", ["provider", "status"],
)
RATE_LIMIT_WAITS = Counter(
    "rate_limit_waits_total", "Times a call waited for the rate limiter", ["system"],
)
RATE_LIMIT_WAIT_SECONDS = Counter(
    "rate_limit_wait_seconds_total", "Seconds spent waiting for the rate limiter", ["system"],
)
TOKEN_REFRESHES = Counter(
    "token_refreshes_total", "OAuth token refreshes, by system and result", ["system", "result"],
)
WEBHOOKS = Counter(
    "webhooks_total", "Webhook deliveries by answer", ["answer"],
)


def provider_call(system: str, status: str, seconds: float) -> None:
    PROVIDER_CALLS.labels(system=system, status=status).inc()
    PROVIDER_CALL_SECONDS.labels(system=system).observe(seconds)
