"""Benchmark: webhook → contact visible in the sandbox Xero, one event at a time, idle system.

    python -m bench.latency [--events 200] [--baseline-events 100]

The service runs as the Procfile starts it (gunicorn ``web``, ``dramatiq`` ``worker``) on
SQLite. Each event goes to its own integration (its own rental account and
Xero tenant), so no rate limit is reached. Between events the system is left idle for a
random 0-300 ms, so that the worker's idle back-off is where it would be in real life. The
clock stops when the Xero stand-in has answered the contact's create (an ``after_request``
hook in this process: no polling adds load or delay).

Baseline, in the same run: the same measurement with Dramatiq's defaults (worker timeout
1,000 ms, prefetch 2 x threads) instead of the Procfile's tuning.
"""
from __future__ import annotations

import argparse
import http.client
import itertools
import random
import threading
import time
from typing import Any

from bench.common import (
    Sandbox,
    Service,
    Wired,
    emit,
    flush_bench_redis,
    percentile,
    seed_member,
    webhook_body,
    wire_integration,
)

TARGET_P50_MS = 250.0
TARGET_P99_MS = 1000.0
#: Seconds one event may take before the run is declared broken.
EVENT_TIMEOUT = 15.0
IDLE_PAUSE = (0.0, 0.3)
#: Dramatiq's own defaults (dramatiq.worker: worker timeout 1 s, prefetch 0 = 2 x threads).
DRAMATIQ_DEFAULTS = {"DRAMATIQ_WORKER_TIMEOUT_MS": "1000", "DRAMATIQ_QUEUE_PREFETCH": "0"}


class CreateWatcher:
    """Notes when the Xero stand-in has answered a contact create, per tenant."""

    def __init__(self, app: Any) -> None:
        self.created: dict[str, float] = {}
        self.condition = threading.Condition()
        app.after_request(self._after)

    def _after(self, response: Any) -> Any:
        from flask import g, request

        tenant = g.get("xero_tenant")
        if tenant and request.method in ("PUT", "POST") and request.path.endswith("/Contacts") \
                and response.status_code == 200:
            with self.condition:
                self.created.setdefault(tenant, time.perf_counter())
                self.condition.notify_all()
        return response

    def wait(self, tenant: str, timeout: float) -> float | None:
        with self.condition:
            self.condition.wait_for(lambda: tenant in self.created, timeout=timeout)
            return self.created.get(tenant)


def _prepare(service: Service, sandbox: Sandbox, count: int) -> list[tuple[Wired, int]]:
    rt = service.runtime()
    try:
        wired = [wire_integration(rt, sandbox) for _ in range(count)]
    finally:
        rt.close()
    return [(w, seed_member(sandbox, w.subdomain, f"Latency Org {w.subdomain}")) for w in wired]


def _run(sandbox: Sandbox, watcher: CreateWatcher, count: int, extra_env: dict[str, str]) -> list[float]:
    """Latencies in milliseconds of ``count`` events sent one at a time."""
    flush_bench_redis()
    with Service(extra_env=extra_env) as service:
        targets = _prepare(service, sandbox, count)
        service.start_web()
        # No scheduler: its reconciliation poll would find the seeded organisations and sync
        # them before their webhooks; the outbox relay it runs is not on a webhook's path.
        service.start("worker")
        time.sleep(2.0)  # the worker has booted and gone idle
        action_ids = itertools.count(int(time.time() * 1000) * 1000)
        latencies = []
        for wired, member_id in targets:
            time.sleep(random.uniform(*IDLE_PAUSE))
            began = time.perf_counter()
            # A new connection per delivery, as the rental system's webhooks arrive.
            connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=EVENT_TIMEOUT)
            connection.request("POST", wired.webhook_path, body=webhook_body(member_id, next(action_ids)),
                               headers={"Content-Type": "application/json"})
            answer = connection.getresponse()
            answer.read()
            connection.close()
            if answer.status != 202:
                raise SystemExit(f"the webhook answered {answer.status}:\n{service.processes[0].log_tail()}")
            visible = watcher.wait(wired.tenant, EVENT_TIMEOUT)
            if visible is None:
                raise SystemExit(f"no contact within {EVENT_TIMEOUT} s; worker log:\n"
                                 f"{service.processes[1].log_tail()}")
            latencies.append((visible - began) * 1000)
        return latencies


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--baseline-events", type=int, default=50)
    args = parser.parse_args(argv)
    sandbox = Sandbox()
    watcher = CreateWatcher(sandbox.xero_app)
    try:
        tuned = _run(sandbox, watcher, args.events, {})
        baseline = _run(sandbox, watcher, args.baseline_events, DRAMATIQ_DEFAULTS) if args.baseline_events else []
    finally:
        sandbox.stop()
    _report(tuned, baseline)


def _report(tuned: list[float], baseline: list[float]) -> None:
    p50, p99 = percentile(tuned, 0.5), percentile(tuned, 0.99)
    b50, b99 = (percentile(baseline, 0.5), percentile(baseline, 0.99)) if baseline else (None, None)
    print(f"{'':36}{'events':>8}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    print(f"{'Procfile tuning':36}{len(tuned):8}{p50:10.0f}{p99:10.0f}{max(tuned):10.0f}")
    if baseline:
        print(f"{'Dramatiq defaults (baseline)':36}{len(baseline):8}{b50:10.0f}{b99:10.0f}{max(baseline):10.0f}")
    emit("latency p50 webhook->contact", round(p50), unit="ms", target=f"<= {TARGET_P50_MS:.0f}",
         baseline=round(b50) if b50 else None, baseline_label="dramatiq defaults",
         ratio=round(p50 / b50, 2) if b50 else None, met=p50 <= TARGET_P50_MS,
         note=f"{len(tuned)} events, each its own tenant")
    emit("latency p99 webhook->contact", round(p99), unit="ms", target=f"<= {TARGET_P99_MS:.0f}",
         baseline=round(b99) if b99 else None, baseline_label="dramatiq defaults",
         ratio=round(p99 / b99, 2) if b99 else None, met=p99 <= TARGET_P99_MS)


if __name__ == "__main__":
    main()
