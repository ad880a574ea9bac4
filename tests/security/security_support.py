"""Helpers of the security suite: what the store and the queues hold, to prove that a refused
request left nothing behind."""
from __future__ import annotations

import json
from typing import Any

import sqlalchemy

from core.tables import Base


def store_snapshot(rt: Any) -> dict[str, list[str]]:
    """Every row of every table, as sorted JSON text (the suites keep these tables small)."""
    snapshot: dict[str, list[str]] = {}
    with rt.db.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            rows = connection.execute(sqlalchemy.select(table)).mappings().all()
            snapshot[table.name] = sorted(json.dumps(dict(row), default=str, sort_keys=True) for row in rows)
    return snapshot


#: The queues: Dramatiq's lists, delayed sets and message hashes. Worker bookkeeping
#: (heartbeats, acks) is left out, and so are rate-limiter windows (they count calls made to
#: another system, refused request or not) and locks, which another test process sharing the
#: database may be taking at the same moment.
QUEUE_PREFIX = b"dramatiq:"
NOT_STATE_PARTS = (b"__heartbeats__", b".acks")


def redis_snapshot(rt: Any) -> dict[str, Any]:
    """Every queue key of the test Redis database with its size."""
    sizes: dict[str, Any] = {}
    for key in rt.redis.scan_iter(match=QUEUE_PREFIX + b"*", count=1000):
        if any(part in key for part in NOT_STATE_PARTS):
            continue
        kind = rt.redis.type(key).decode()
        size = {"list": rt.redis.llen, "zset": rt.redis.zcard, "hash": rt.redis.hlen,
                "set": rt.redis.scard}.get(kind)
        sizes[key.decode()] = (kind, size(key) if size else rt.redis.get(key) if kind == "string" else None)
    return sizes


def state(rt: Any) -> tuple[dict[str, list[str]], dict[str, Any]]:
    return store_snapshot(rt), redis_snapshot(rt)


def changes(before: tuple[dict[str, list[str]], dict[str, Any]], after: tuple[dict[str, list[str]], dict[str, Any]]) -> list[str]:
    """What differs between two ``state`` snapshots, named (empty when nothing changed)."""
    found = [f"table {name}" for name in before[0] if before[0][name] != after[0].get(name)]
    keys = set(before[1]) | set(after[1])
    found += [f"redis {key}" for key in sorted(keys) if before[1].get(key) != after[1].get(key)]
    return found
