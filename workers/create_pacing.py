"""During a burst, one worker thread gathers an integration's creates into full batch calls.

A provider with a batch endpoint (Xero: 50 contacts a call) spends one call of its rate limit on
a batch of any size. But a create's message runs as soon as it arrives, and its batch took only
the creates that arrived in the milliseconds before it; so the batch sizes followed the
webhooks' pace and the machine's load (issue 18: 23 to 61 write calls for the same 1,000 new
organisations, the same code, in different runs).

So a thread whose create is part of a burst (other creates were waiting behind it, or the
integration sent a create less than ``LINGER_SECONDS`` ago: a burst arriving more slowly than the
worker drains it), and whose batch is not full, becomes its integration's collector for at most
``LINGER_SECONDS``: it claims the creates that arrive meanwhile, every ``POLL_SECONDS``, until
the batch is full. While it collects, another
thread handed a young create of that integration puts it back, owed and due at once, for the
collector to claim (or, if the collector has just finished, for the relay to send again within
its interval).

What it does not touch:
- a lone create (nothing waiting behind it, no create of its integration in the last
  ``LINGER_SECONDS``) is sent at once: no one collects outside a burst;
- a create older than ``MAX_WAIT_SECONDS`` is never put back, so its wait is bounded;
- the collector's mark is a Redis key with a TTL, a hint and not a lock: two collectors at once
  (the mark lost, or taken in the same instant) only make two batches. Redis away: no mark, and
  every create is sent as it would be without pacing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import NamedTuple

import redis

#: How long a collector waits for a burst's creates to fill its batch.
LINGER_SECONDS = 0.5
#: How often it claims the creates that arrived meanwhile (one query each).
POLL_SECONDS = 0.1
#: A create received longer ago than this is never put back for a collector.
MAX_WAIT_SECONDS = 1.0


def _key(integration_id: str) -> str:
    return f"create-collector:{integration_id}"


def _recent_key(integration_id: str) -> str:
    return f"create-recent:{integration_id}"


def start_collecting(client: redis.Redis, integration_id: str) -> bool:
    """Become the integration's collector; ``False`` when another thread already is."""
    try:
        return bool(client.set(_key(integration_id), b"1", nx=True, px=int(LINGER_SECONDS * 1000)))
    except redis.RedisError:
        return False


def stop_collecting(client: redis.Redis, integration_id: str) -> None:
    """Drop the mark as soon as the batch is gathered, so the next creates start their own; and
    note the batch as the integration's latest create, so the next create of the burst gathers
    again rather than go alone. (A plain delete: should it drop a later collector's mark, that
    only makes two batches.)"""
    try:
        with client.pipeline(transaction=False) as pipe:
            pipe.delete(_key(integration_id))
            pipe.set(_recent_key(integration_id), b"1", px=int(LINGER_SECONDS * 1000))
            pipe.execute()
    except redis.RedisError:
        return  # the marks' TTLs end them


class Arrival(NamedTuple):
    """What a create of a batching integration learns as it is taken, in one round trip."""

    #: Another thread gathers the integration's creates: leave this one to it.
    leave_to_collector: bool
    #: The integration sent a create less than ``LINGER_SECONDS`` ago: a burst, so gather.
    follows_recent_create: bool


def arrive(client: redis.Redis, integration_id: str, received_at: datetime, now: datetime) -> Arrival:
    """Note a create of this integration (received at ``received_at``) and say what it is to do:
    a collector's ``EXISTS`` (only for a create young enough to be left to one, below
    ``MAX_WAIT_SECONDS``) and the ``SET ... GET`` of the latest create, pipelined."""
    if received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=timezone.utc)
    young = (now - received_at).total_seconds() < MAX_WAIT_SECONDS
    try:
        with client.pipeline(transaction=False) as pipe:
            if young:
                pipe.exists(_key(integration_id))
            pipe.set(_recent_key(integration_id), b"1", px=int(LINGER_SECONDS * 1000), get=True)
            answers = pipe.execute()
    except redis.RedisError:
        return Arrival(False, False)  # no marks: sent as without pacing
    return Arrival(leave_to_collector=young and bool(answers[0]), follows_recent_create=answers[-1] is not None)


@dataclass
class Gathering:
    """One thread's turn as its integration's collector: ``start`` may fail (another thread
    collects), ``stop`` is safe to call whether or not it started, and more than once."""

    client: redis.Redis
    integration_id: str
    collecting: bool = False

    def start(self) -> bool:
        if not self.collecting:
            self.collecting = start_collecting(self.client, self.integration_id)
        return self.collecting

    def stop(self) -> None:
        if self.collecting:
            self.collecting = False
            stop_collecting(self.client, self.integration_id)
