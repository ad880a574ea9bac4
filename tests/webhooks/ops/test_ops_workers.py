"""The workers view against a real Dramatiq worker (threads in this process) and a dead one."""
from __future__ import annotations

import json
import os
import time

from tests.support import RunningWorker, wait_for


def test_a_running_worker_is_shown_alive_and_a_silent_one_dead(rt, client, admin, redis_client):
    # A process that stopped 60 s ago without cleaning up: its heartbeat and its record remain.
    redis_client.zadd("dramatiq:__heartbeats__", {"gone-worker": (time.time() - 60) * 1000})
    redis_client.set("dramatiq:ops:worker:gone-worker", json.dumps(
        {"host": "old-host", "pid": 4242, "queues": ["sync"], "threads": 8}))
    with RunningWorker(rt, threads=2) as worker:
        broker_id = worker.worker.broker.broker_id
        wait_for(lambda: redis_client.zscore("dramatiq:__heartbeats__", broker_id), timeout=10,
                 what="the worker's first heartbeat")
        page = client.get("/ops/workers", headers=admin).get_data(as_text=True)
    row = page[page.index(f'data-worker-id="{broker_id}"'):]
    row = row[:row.index("</tr>")]
    assert "alive" in row and str(os.getpid()) in row and "sync" in row and "alerts" in row
    dead = page[page.index('data-worker-id="gone-worker"'):]
    dead = dead[:dead.index("</tr>")]
    assert "dead" in dead and "old-host" in dead and "4242" in dead
    assert '<meta http-equiv="refresh"' in page


def test_no_worker_says_so(client, admin, redis_client):
    page = client.get("/ops/workers", headers=admin).get_data(as_text=True)
    assert "No worker is running" in page
