"""The per-organisation lock, with a fencing token (docs/architecture.md "Sync", "Invariants").

One sync of an organisation runs at a time per integration. The lock is a Redis key with a TTL
(``SET NX PX``), so a killed worker cannot hold it for ever; its value is a fencing token, a
number that only grows (``INCR`` of a per-organisation counter that never expires). A worker
that stalled past the TTL finds, at its next ``check()``, that the key holds a newer token and
stops before writing (``LockLost``), so it cannot overwrite the newer sync's result.

How long the TTL must be (issue 13, finding 8: short, so that a dead holder's lock lapses soon).
While a sync runs, a keeper (``workers.keeper``) renews its locks and its events' leases every
third of the TTL, through rate-limit waits, token refreshes and calls alike, and the fence is
checked, renewing the lock to a full TTL, right before each request is sent
(``providers.base.FencedGate``), after every wait. So the TTL no longer has to cover a whole
sync, nor a stretch between two renewals of a live process: what is left between the last check
and a write landing is one call, at most connect + read timeout (``CALL_SECONDS``, 23.05 s).
``check_budget`` refuses at start-up a TTL that cannot cover it. ``DEFAULT_TTL`` is 30 s: above
that call with some seconds to spare for the request's own trip, and short enough that a lock
held by a process on another host that died (whose death no peer can see) lapses in 30 s. A live
worker whose keeper misses one renewal (Redis away for a few seconds) still holds it.

A dead process on the same host does not wait for the TTL at all: each lock is listed under its
holder (``core.holders``: host, pid, start time) in the script that takes it, and any worker of
that host releases the locks of a holder whose process is gone (``workers.holders``). That is
safe because a dead process has no call in flight that could land after the release: the bytes
it had already sent are the lost-answer case the create markers handle, as after any timeout.

Redis round trips: one per ``acquire``, ``check``, ``extend`` and ``release``.
"""
from __future__ import annotations

from typing import Any

from core import holders
from core.errors import ConfigError, LockBusy, LockLost
from core.ratelimit import SLOT_TTL

#: Seconds one outside call can take: connect + read timeout (``ProviderContext.timeout``).
CALL_SECONDS = 3.05 + 20.0
#: Lock lifetime: above one call after the fencing check (module docstring).
DEFAULT_TTL = 30.0

# Take the lock only when free, with a token from the counter that only grows, and list it
# under its holder (core.holders) in the same step: nothing is held unlisted.
# KEYS: lock, fence counter, the holder's locks hash, the host's holder set.
# ARGV: ttl ms, holder id, registry ttl ms.
_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token, 'PX', ARGV[1])
redis.call('HSET', KEYS[3], KEYS[1], token)
redis.call('PEXPIRE', KEYS[3], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[2])
redis.call('PEXPIRE', KEYS[4], ARGV[3])
return token
"""

# Still ours? Then renew the TTL (a holder that is making progress keeps its lock), and its
# listing (a bulk job may hold a lock for longer than the registry's TTL).
# KEYS: lock, the holder's locks hash. ARGV: token, ttl ms, registry ttl ms.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return 1
end
return 0
"""

# Delete the lock if it still holds this token, and the holder's listing of that token. Also
# what ``workers.holders`` runs for a dead holder: a token names one grant (the counter only
# grows), so a lock taken since by someone else is never touched.
# KEYS: lock, the holder's locks hash. ARGV: token.
RELEASE_SCRIPT = """
if redis.call('HGET', KEYS[2], KEYS[1]) == ARGV[1] then redis.call('HDEL', KEYS[2], KEYS[1]) end
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
        #: Who takes it (this process), listed so that a peer on this host releases the lock at
        #: once if the process dies (``workers.holders``) instead of waiting out the TTL.
        self._holder = holders.this_process()
        self._listing = holders.locks_key(self._holder.id)
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(RELEASE_SCRIPT)

    def acquire(self) -> bool:
        """Take the lock with a fresh fencing token; ``False`` if another worker holds it."""
        token = int(self._acquire(
            keys=[self.key, self.counter_key, self._listing, holders.host_key(self._holder.host)],
            args=[self.ttl_ms, self._holder.id, holders.REGISTRY_TTL_MS],
        ))
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
            keys=[self.key, self._listing], args=[self._token, self.ttl_ms, holders.REGISTRY_TTL_MS]
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
            self._release(keys=[self.key, self._listing], args=[self._token])
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


def check_budget(ttl: float, timeout: tuple[float, float], *, slot_ttl: float = SLOT_TTL) -> None:
    """Stop a process whose lock TTL, or limiter slot TTL, cannot cover one call after the
    last fencing check.

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
    # The rate limiter's concurrency slot is held for exactly one call and expires on its own
    # (a holder on another host that died): it must outlive the call too, or a slow live call
    # would lose its slot and one call too many could run at once.
    if slot_ttl <= needed:
        raise ConfigError(
            f"HTTP_CONNECT_TIMEOUT_SECONDS + HTTP_READ_TIMEOUT_SECONDS = {needed:g} s is longer "
            f"than a rate-limiter slot lives ({slot_ttl:g} s): shorten those timeouts"
        )
