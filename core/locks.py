"""The per-organisation lock, with a fencing token (docs/architecture.md "Sync", "Invariants").

One sync of an organisation runs at a time per integration. The lock is a Redis key with a TTL
(``SET NX PX``), so a killed worker cannot hold it for ever; its value is a fencing token, a
number that only grows (``INCR`` of a per-organisation counter that never expires). A worker
that stalled past the TTL finds, at its next ``check()``, that the key holds a newer token and
stops before writing (``LockLost``), so it cannot overwrite the newer sync's result.

How long the TTL must be. One outside call takes at most ``CALL_SECONDS`` (connect 3.05 s +
read 20 s) after at most ``RATE_WAIT_SECONDS`` in the rate limiter (``core.ratelimit.MAX_WAIT``).
``check()`` and ``extend()`` renew the TTL, so it must exceed the longest stretch between two
renewals: a rate-limit wait, a token refresh, the call and its retry after a 401, about
30 + 3 × 23.05 ≈ 99 s; ``DEFAULT_TTL`` is 120 s. A whole sync with no renewal at all (the
rental-system fetch, a refresh, create → name clash → look-up → update, each after a full
rate-limit wait) could take about 5 × 23.05 + 4 × 30 ≈ 235 s: a sync should ``check()`` before
each write (which it must anyway) or ``extend()`` after each outside call.

Since issue 12 the TTL no longer has to cover a whole sync: while a sync runs, a keeper
(``workers.keeper``) renews its locks and its events' leases every third of the TTL, through
rate-limit waits, token refreshes and calls alike, and the fence is checked right before each
request is sent (``providers.base.FencedGate``), after every wait. What is left between the last
check and a write landing is one call, at most connect + read timeout; ``check_budget`` refuses
at start-up a TTL that cannot cover it.

Redis round trips: one per ``acquire``, ``check``, ``extend`` and ``release``.
"""
from __future__ import annotations

from typing import Any

from core.errors import ConfigError, LockBusy, LockLost

#: Seconds one outside call can take: connect + read timeout (``ProviderContext.timeout``).
CALL_SECONDS = 3.05 + 20.0
#: Seconds a call may wait for the rate limiter before it raises ``RateLimited``.
RATE_WAIT_SECONDS = 30.0
#: Lock lifetime; above the longest stretch between two renewals (module docstring, ≈ 99 s).
DEFAULT_TTL = 120.0

# Take the lock only when free, with a token from the counter that only grows.
_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token, 'PX', ARGV[1])
return token
"""

# Still ours? Then renew the TTL (a holder that is making progress keeps its lock).
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class OrganisationLock:
    """The lock on one organisation of one integration; a context manager raising ``LockBusy``."""

    def __init__(
        self, redis: Any, *, integration_id: str, organisation_id: int, ttl: float = DEFAULT_TTL
    ) -> None:
        self.redis = redis
        self.integration_id = integration_id
        self.organisation_id = organisation_id
        self.ttl_ms = int(ttl * 1000)
        self.key = f"lock:organisation:{integration_id}:{organisation_id}"
        #: The fencing counter; it never expires, so tokens only grow (one small key per org).
        self.counter_key = f"{self.key}:fence"
        self._token: int | None = None
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    def acquire(self) -> bool:
        """Take the lock with a fresh fencing token; ``False`` if another worker holds it."""
        token = int(self._acquire(keys=[self.key, self.counter_key], args=[self.ttl_ms]))
        if token == 0:
            return False
        self._token = token
        return True

    @property
    def token(self) -> int:
        """Our fencing token (higher than every earlier holder's)."""
        if self._token is None:
            raise LockLost("the organisation lock was never taken")
        return self._token

    def check(self) -> None:
        """Raise ``LockLost`` unless the lock still holds our token; renews the TTL when it does.
        Call it before every write to the accounting system."""
        if self._token is None or not self._renew(
            keys=[self.key], args=[self._token, self.ttl_ms]
        ):
            raise LockLost(
                "the organisation lock expired or was taken over",
                integration_id=self.integration_id, organisation_id=self.organisation_id,
            )

    def extend(self) -> None:
        """Push the TTL back to its full length, only if still ours (else ``LockLost``)."""
        self.check()

    def release(self) -> None:
        """Delete the lock if it is still ours; a no-op otherwise."""
        if self._token is not None:
            self._release(keys=[self.key], args=[self._token])
            self._token = None

    def __enter__(self) -> "OrganisationLock":
        if not self.acquire():
            raise LockBusy(
                "another worker is syncing this organisation",
                integration_id=self.integration_id, organisation_id=self.organisation_id,
            )
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def check_budget(ttl: float, timeout: tuple[float, float]) -> None:
    """Stop a process whose lock TTL cannot cover one call after the last fencing check.

    The fencing check renews the lock to a full TTL right before the request is sent; from
    there the call lasts at most connect + read timeout, which must end before the TTL does
    (the keeper renews meanwhile, but a frozen process renews nothing)."""
    connect, read = timeout
    needed = connect + read
    if ttl <= needed:
        raise ConfigError(
            f"LOCK_TTL_SECONDS={ttl:g} is too short for one call after the fencing check: "
            f"HTTP_CONNECT_TIMEOUT_SECONDS + HTTP_READ_TIMEOUT_SECONDS = {connect + read:g} s, "
            f"so LOCK_TTL_SECONDS must be above {needed:g} (or shorten those timeouts)"
        )
