"""Fixed-window rate limits for the stand-ins, as the real systems count them.

Xero's windows are "fixed … reset at different times for each tenant" (providers.md A5); the
window length is configurable so tests and benchmarks can shorten a minute to a few seconds.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


@dataclass
class FixedWindow:
    """At most ``limit`` calls per ``window`` seconds per key; ``limit`` 0 means unlimited."""

    limit: int
    window: float
    _counts: dict[str, tuple[float, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: How many calls were refused, per key (what a benchmark reports as "429s received").
    refused: dict[str, int] = field(default_factory=dict)

    def hit(self, key: str) -> float | None:
        """Count one call; ``None`` if allowed, else the seconds until the window resets."""
        if self.limit <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            start, count = self._counts.get(key, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            if count >= self.limit:
                self.refused[key] = self.refused.get(key, 0) + 1
                return max(0.001, self.window - (now - start))
            self._counts[key] = (start, count + 1)
            return None

    def remaining(self, key: str) -> int:
        with self._lock:
            start, count = self._counts.get(key, (time.monotonic(), 0))
            if time.monotonic() - start >= self.window:
                count = 0
            return max(0, self.limit - count)

    def reset(self) -> None:
        """Forget every window and refusal (``POST /_sandbox/reset``)."""
        with self._lock:
            self._counts.clear()
            self.refused.clear()
