"""A per-tenant rate limiter shared by every worker through Redis (``providers.base.CallGate``).

Each limit is a sliding-window log (a sorted set of call times), checked and recorded by one
atomic Lua script, so workers on any number of machines count together. A sliding log over
the last ``window`` seconds guarantees that no *fixed* window of that length, wherever the
server starts it ("fixed … reset at different times for each tenant", providers.md A5), sees
more than the limit. The log is kept a little longer than the window (``WINDOW_MARGIN_SHARE``)
because the server counts a call when it arrives, a moment after we record it.

Live before bulk (docs/architecture.md, "Invariants"): a bulk caller may use only the part of each limit not
reserved for live calls (``LIVE_RESERVE_SHARE``), and stands back entirely while a live caller
is waiting (a short-lived "live waiter" entry that the live caller's own refusal writes).

Redis round trips: ``acquire`` makes one script call when there is room (the common case) and
one more per wait; ``release`` one call where a concurrency limit exists, else none;
``penalise`` one call. Redis's own clock (``TIME``) is used, so machines need not agree on time.
"""
from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

import structlog

from core import holders, metrics
from core.errors import RateLimited

log = structlog.get_logger(__name__)

#: Share of each limit that bulk work may not use, kept for live syncs (at least one call).
LIVE_RESERVE_SHARE = 0.2
#: Extra length of each log beyond its window: covers the delay between our acquire and the
#: server's count of the call (scheduling, connecting). A share of the window, within bounds in
#: seconds: 1.5 s for a real minute, 0.2 s for the 1-6 s windows of tests and benchmarks.
WINDOW_MARGIN_SHARE = 0.025
MIN_WINDOW_MARGIN = 0.2
MAX_WINDOW_MARGIN = 2.0
#: A concurrency slot expires this long after it was taken, so a killed worker cannot leak it:
#: longer than one call's worst case (connect 3.05 s + read 20 s, ``ProviderContext.timeout``;
#: ``core.locks.check_budget`` refuses timeouts it cannot cover). A slot is held for exactly one
#: call, so no keeper renews it. A dead holder on the same host has its slots freed at once
#: (``workers.holders``); one on another host holds them at most this long, as its locks.
SLOT_TTL = 30.0
#: How long a waiting live caller's "live waiter" entry outlives its expected wait.
LIVE_MARKER_MARGIN = 0.5
#: How often a caller re-checks a wait whose end is unknown (a concurrency slot, a live waiter).
POLL_INTERVAL = 0.05
#: Default patience of ``acquire`` before it raises ``RateLimited`` instead of sleeping.
MAX_WAIT = 30.0
PRIORITIES = ("live", "bulk")
COUNTED_LIMITS = (
    "per_minute", "per_second", "per_day", "concurrent", "batch_per_minute", "app_per_minute",
)


@dataclass(frozen=True)
class Limits:
    """The limits of one tenant of one system; ``None`` means no such limit."""

    per_minute: int | None = None
    per_second: int | None = None
    per_day: int | None = None
    concurrent: int | None = None
    batch_per_minute: int | None = None
    #: Per application across all its tenants (Xero "App Minute").
    app_per_minute: int | None = None
    #: The "minute" length; tests and benchmarks shorten it.
    window: float = 60.0
    #: The "second" and "day" lengths. They do not follow ``window``: keeping them real is the
    #: conservative choice whether or not a shortened stand-in scales them too.
    second_window: float = 1.0
    day_window: float = 86400.0

    def __post_init__(self) -> None:
        for name in COUNTED_LIMITS:
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"Limits.{name} must be at least 1, or None for no limit")


#: Current RMS publishes no figures (current_rms.md 2.1 "[NF]"); one call a second and two at
#: a time is a conservative guess that still fetches an organisation per sync promptly.
RENTAL_SYSTEM = "current_rms"
RENTAL_LIMITS = Limits(per_minute=60, concurrent=2)


def published_limits(system: str) -> Limits:
    """The published limits of ``system``: the rental system's above, each accounting system's
    on its provider class (``published_limits``). ``KeyError`` for an unknown system."""
    if system == RENTAL_SYSTEM:
        return RENTAL_LIMITS
    # Imported here: provider packages import this module.
    from providers.registry import PUBLISHED_LIMITS

    return PUBLISHED_LIMITS[system]


# KEYS[1] penalty, KEYS[2] live waiters, KEYS[3] concurrency slots, KEYS[4] the holder's slots
# hash, KEYS[5] the host's holder set (core.holders), KEYS[6..] window logs.
# ARGV[1] slot id, [2] priority, [3] slot ttl ms, [4] live marker margin ms, [5] patience ms,
# [6] poll ms, [7] concurrent limit live, [8] bulk (-1: none), [9] holder id, [10] registry
# ttl ms; then per log: name, live limit, bulk limit, window ms. Returns {wait ms, reason,
# exact}: wait 0 means granted and recorded; exact 0 means "re-check within wait ms" (the end
# of the wait is not known).
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local slot, live = ARGV[1], ARGV[2] == 'live'
local slot_ttl, margin = tonumber(ARGV[3]), tonumber(ARGV[4])
local patience, poll = tonumber(ARGV[5]), tonumber(ARGV[6])

local function keep_for(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end

-- A live caller that is going to wait tells bulk callers to stand back until it is served.
local function refuse(wait, reason, exact)
  if live and (exact == 0 or wait <= patience) then
    redis.call('ZADD', KEYS[2], now + wait + margin, slot)
    keep_for(KEYS[2], wait + margin)
  end
  return {wait, reason, exact}
end

local penalty = redis.call('PTTL', KEYS[1])
if penalty > 0 then return refuse(penalty, 'penalty', 1) end

redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if not live and redis.call('ZCARD', KEYS[2]) > 0 then return {poll, 'live_waiting', 0} end

local wait, reason = 0, ''
for i = 6, #KEYS do
  local a = 11 + (i - 6) * 4
  local limit = tonumber(live and ARGV[a + 1] or ARGV[a + 2])
  local window = tonumber(ARGV[a + 3])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local used = redis.call('ZCARD', KEYS[i])
  if used >= limit then
    local nth = redis.call('ZRANGE', KEYS[i], used - limit, used - limit, 'WITHSCORES')
    local free_in = tonumber(nth[2]) + window - now
    if free_in > wait then wait, reason = free_in, ARGV[a] end
  end
end
if wait > 0 then return refuse(wait, reason, 1) end

local concurrent = tonumber(live and ARGV[7] or ARGV[8])
if concurrent >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if redis.call('ZCARD', KEYS[3]) >= concurrent then
    local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
    return refuse(math.max(1, math.min(poll, tonumber(first[2]) - now)), 'concurrent', 0)
  end
  redis.call('ZADD', KEYS[3], now + slot_ttl, slot)
  keep_for(KEYS[3], slot_ttl)
  -- listed under its holder in the same step: a dead holder's slot is freed by a peer at once
  redis.call('HSET', KEYS[4], slot, KEYS[3])
  redis.call('PEXPIRE', KEYS[4], ARGV[10])
  redis.call('SADD', KEYS[5], ARGV[9])
  redis.call('PEXPIRE', KEYS[5], ARGV[10])
end
for i = 6, #KEYS do
  redis.call('ZADD', KEYS[i], now, slot)
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[11 + (i - 6) * 4 + 3]))
end
redis.call('ZREM', KEYS[2], slot)
return {0, 'ok', 1}
"""

# Lengthen the penalty, never shorten it: a day-limit 429 must not be undone by a minute one.
_PENALISE = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 0
"""


def bulk_share(limit: int) -> int:
    """The part of ``limit`` bulk work may use: all but the live reserve, and at least one."""
    reserve = max(1, math.floor(limit * LIVE_RESERVE_SHARE))
    return max(1, limit - reserve)


def _log_length(window: float) -> float:
    margin = min(max(window * WINDOW_MARGIN_SHARE, MIN_WINDOW_MARGIN), MAX_WINDOW_MARGIN)
    return window + margin


class RateLimiter:
    """Waits for room under one tenant's limits before each call (see the module docstring)."""

    def __init__(
        self,
        redis: Any,
        *,
        system: str,
        tenant: str,
        limits: Limits,
        priority: str = "live",
        max_wait: float = MAX_WAIT,
        app_id: str = "default",
        slot_ttl: float = SLOT_TTL,
    ) -> None:
        if priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {PRIORITIES}, not {priority!r}")
        self.redis = redis
        self.system = system
        self.tenant = tenant
        self.limits = limits
        self.priority = priority
        self.max_wait = max_wait
        self.slot_ttl = slot_ttl
        prefix = f"ratelimit:{system}:{tenant}"
        self._prefix = prefix
        self._penalty_key = f"{prefix}:penalty"
        self._app_key = f"ratelimit:{system}:app:{app_id}:minute"
        #: Who takes the slots (this process), listed so that a peer on this host frees them at
        #: once if the process dies (``workers.holders``).
        self._holder = holders.this_process()
        self._acquire_script = redis.register_script(_ACQUIRE)
        self._penalise_script = redis.register_script(_PENALISE)

    # -- CallGate ----------------------------------------------------------------------------
    def acquire(self, *, batch: bool = False) -> str:
        """Block until a call may be made; raise ``RateLimited`` when the wait would exceed
        ``max_wait``. Returns the slot id to ``release``."""
        slot = uuid.uuid4().hex
        started = time.monotonic()
        waited = False
        try:
            while True:
                patience = self.max_wait - (time.monotonic() - started)
                wait, reason, exact = self._try(slot, batch, patience)
                if wait <= 0:
                    return slot
                if (exact and wait > patience) or (not exact and patience <= 0):
                    raise self._no_room(reason, wait)
                waited = True
                time.sleep(min(wait, patience))
        finally:
            if waited:
                self._count_wait(time.monotonic() - started)

    def release(self, slot: str) -> None:
        """The call holding ``slot`` has ended: free its concurrency slot and its listing
        (one round trip)."""
        if self.limits.concurrent is not None:
            release_slot(self.redis, slot, f"{self._prefix}:concurrent", holders.slots_key(self._holder.id))

    def penalise(self, retry_after: float) -> None:
        """A 429 came anyway: hold back every worker of this tenant for ``retry_after`` s."""
        milliseconds = math.ceil(retry_after * 1000)
        if milliseconds > 0:
            self._penalise_script(keys=[self._penalty_key], args=[milliseconds])
            log.info("rate limit penalty", system=self.system, retry_after=retry_after)

    # -- internals ---------------------------------------------------------------------------
    def _no_room(self, reason: str, wait: float) -> RateLimited:
        return RateLimited(
            f"{self.system} rate limit ({reason}): no room within {self.max_wait:g} s",
            retry_after=max(wait, POLL_INTERVAL), system=self.system,
        )

    def _try(self, slot: str, batch: bool, patience: float) -> tuple[float, str, bool]:
        """One script call: (seconds to wait, the limit that refused, whether the wait is exact)."""
        keys, args = self._script_arguments(batch)
        head = [
            slot, self.priority, _ms(self.slot_ttl), _ms(LIVE_MARKER_MARGIN),
            _ms(max(patience, 0.0)), _ms(POLL_INTERVAL),
        ]
        wait_ms, reason, exact = self._acquire_script(keys=keys, args=head + args)
        reason = reason.decode() if isinstance(reason, bytes) else str(reason)
        return int(wait_ms) / 1000.0, reason, bool(int(exact))

    def _script_arguments(self, batch: bool) -> tuple[list[str], list[Any]]:
        concurrent = self.limits.concurrent
        holder = self._holder
        keys = [self._penalty_key, f"{self._prefix}:live_waiters", f"{self._prefix}:concurrent",
                holders.slots_key(holder.id), holders.host_key(holder.host)]
        args: list[Any] = [-1, -1] if concurrent is None else [concurrent, bulk_share(concurrent)]
        args += [holder.id, holders.REGISTRY_TTL_MS]
        for name, key, limit, window, reserved in self._logs(batch):
            keys.append(key)
            bulk_limit = bulk_share(limit) if reserved else limit
            args += [name, limit, bulk_limit, _ms(_log_length(window))]
        return keys, args

    def _logs(self, batch: bool) -> list[tuple[str, str, int, float, bool]]:
        """(name, key, limit, window, live reserve applies) of each log that counts this call."""
        limits, prefix = self.limits, self._prefix
        candidates = [
            ("minute", f"{prefix}:minute", limits.per_minute, limits.window, True),
            ("second", f"{prefix}:second", limits.per_second, limits.second_window, True),
            ("day", f"{prefix}:day", limits.per_day, limits.day_window, True),
            ("app_minute", self._app_key, limits.app_per_minute, limits.window, True),
        ]
        if batch:  # batch calls are bulk work by nature: no share of them is kept for live
            candidates.append(
                ("batch_minute", f"{prefix}:batch", limits.batch_per_minute, limits.window, False)
            )
        return [c for c in candidates if c[2] is not None]  # type: ignore[misc]

    def _count_wait(self, seconds: float) -> None:
        metrics.RATE_LIMIT_WAITS.labels(system=self.system).inc()
        metrics.RATE_LIMIT_WAIT_SECONDS.labels(system=self.system).inc(seconds)


def release_slot(redis: Any, slot: str, slot_set: str, listing: str) -> None:
    """Free one concurrency slot and its holder's listing of it. Also what ``workers.holders``
    runs for a dead holder: a slot id names one grant (a fresh uuid), so nothing else is freed."""
    pipeline = redis.pipeline(transaction=False)
    pipeline.zrem(slot_set, slot)
    pipeline.hdel(listing, slot)
    pipeline.execute()


def _ms(seconds: float) -> int:
    return max(0, math.ceil(seconds * 1000))
