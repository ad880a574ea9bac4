"""The one backoff: exponential with jitter, for every retry the service schedules (an event,
a bulk batch, an alert's delivery)."""
from __future__ import annotations

import random


def backoff(attempt: int, *, low: float, high: float) -> float:
    """Seconds before try ``attempt + 1``: about ``low`` after the first failure, doubling, never
    above ``high``; the jitter (half to all of it) spreads retries of a burst that failed together."""
    ceiling = min(high, low * (2.0 ** max(0, attempt - 1)))
    return float(ceiling * random.uniform(0.5, 1.0))
