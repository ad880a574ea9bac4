"""``/ops/workers``: each Dramatiq worker process (host, pid, queues, threads, messages in
flight, last heartbeat); one whose heartbeat is older than ``DEAD_WORKER_SECONDS`` is dead
(its messages go back to the queue when Dramatiq's maintenance notices)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, cast

import redis
from flask import current_app, render_template

from webhooks.ops import blueprint
from webhooks.ops.security import ops_required
from workers.broker import DEAD_WORKER_SECONDS, NAMESPACE
from workers.worker_info import info_key


@dataclass
class WorkerRow:
    id: str
    #: ``None``: Dramatiq has already dropped the heartbeat of this dead worker; its record remains.
    last_heartbeat_seconds: float | None
    host: str = "unknown"
    pid: int | None = None
    queues: list[str] = field(default_factory=list)
    threads: int | None = None
    in_flight: int = 0

    @property
    def dead(self) -> bool:
        return self.last_heartbeat_seconds is None or self.last_heartbeat_seconds > DEAD_WORKER_SECONDS


def worker_rows(client: redis.Redis, *, now: float | None = None) -> list[WorkerRow]:
    """Every worker process Dramatiq has a heartbeat for, and every one that recorded itself and
    whose heartbeat Dramatiq has since dropped (it removes a dead worker's heartbeat at its next
    maintenance pass, within seconds): live ones first, latest first."""
    now = time.time() if now is None else now
    rows = []
    # redis-py types every reply loosely; with scores, a sorted set's range is (member, score) pairs.
    heartbeats = cast("list[tuple[bytes, float]]",
                      client.zrange(f"{NAMESPACE}:__heartbeats__", 0, -1, withscores=True))
    seen: dict[str, float | None] = {raw_id.decode(): max(0.0, now - score / 1000.0) for raw_id, score in heartbeats}
    prefix = info_key("")
    for key in client.scan_iter(match=f"{prefix}*", count=100):
        seen.setdefault(key.decode().removeprefix(prefix), None)
    for broker_id, age in seen.items():
        row = WorkerRow(broker_id, age)
        info = client.get(info_key(broker_id))
        if info:
            details: dict[str, Any] = json.loads(info)
            row.host, row.pid = details.get("host", "unknown"), details.get("pid")
            row.queues, row.threads = list(details.get("queues", [])), details.get("threads")
        acks = client.keys(f"{NAMESPACE}:__acks__.{broker_id}.*")
        row.in_flight = sum(int(client.scard(key)) for key in acks)
        rows.append(row)
    return sorted(rows, key=lambda r: (r.dead, r.last_heartbeat_seconds if r.last_heartbeat_seconds is not None else float("inf")))


@blueprint.get("/workers")
@ops_required
def workers_page() -> Any:
    try:
        rows, error = worker_rows(current_app.extensions["runtime"].redis), None
    except redis.RedisError as failure:
        rows, error = [], f"Redis does not answer ({type(failure).__name__})."
    return render_template("ops/workers.html", workers=rows, redis_error=error, dead_after=DEAD_WORKER_SECONDS,
                           refresh=True)
