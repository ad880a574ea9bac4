"""Benchmark: the webhook endpoint against a bare Flask endpoint that only answers 202.

    python -m bench.ingress [--requests 5000] [--clients 16] [--no-postgres]

Both run under the Procfile's ``web:`` line (gunicorn with gunicorn.conf.py: its workers,
threads and JSON access log), one after the other on the same machine, driven by the same
load generator (``bench.loadgen``: 16 keep-alive connections). The webhook requests are real
deliveries, each with its own ``action.id``: the event is committed and handed to Redis
(no worker runs, so the queue only grows). Printed: requests per second and p50/p99 latency
of each, the ratio webhook/bare (target at least 0.5 with SQLite; PostgreSQL reported), the
generator's own rate against a trivial server (the client must not be the bottleneck), and
the peak resident memory of a gunicorn worker (target at most 150 MB).
"""
from __future__ import annotations

import argparse
import itertools
import time
from typing import Callable

from bench.common import Sandbox, Service, emit, flush_bench_redis, peak_rss_mb, wire_integration
from bench.loadgen import LoadResult, build_request, client_capacity, run_load

WARM_UP = 300
TARGET_RATIO = 0.5
TARGET_WEB_RSS_MB = 150.0
BARE_PATH = "/webhooks/current-rms/bare"


def make_bare_app():  # -> Flask; gunicorn calls it: 'bench.ingress:make_bare_app()'
    """The baseline: Flask answering 202 with a small JSON body, nothing else."""
    from flask import Flask, jsonify

    app = Flask(__name__)

    @app.post("/webhooks/current-rms/<integration_id>")
    def receive(integration_id: str):
        return jsonify({"event_id": "x", "status": "queued"}), 202

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app


def _webhook_requests(path: str) -> Callable[[int], bytes]:
    base = int(time.time() * 1000) * 1000
    counter = itertools.count()

    def make(i: int) -> bytes:
        body = (b'{"action":{"id":%d,"subject_id":%d,"subject_type":"Member","action_type":"update"}}'
                % (base + next(counter), 1000 + i % 50))
        return build_request("POST", path, body)

    return make


def _measure(port: int, make: Callable[[int], bytes], total: int, clients: int) -> LoadResult:
    run_load(port, make, total=WARM_UP, clients=clients)
    return run_load(port, make, total=total, clients=clients)


def _bare(total: int, clients: int) -> LoadResult:
    with Service() as service:
        service.start_web("bench.ingress:make_bare_app()")
        return _measure(service.port, _webhook_requests(BARE_PATH), total, clients)


def _webhook(total: int, clients: int, sandbox: Sandbox, database: str | None) -> tuple[LoadResult, float]:
    flush_bench_redis()
    with Service(database_url=database) as service:
        rt = service.runtime()
        wired = wire_integration(rt, sandbox)
        rt.close()
        web = service.start_web()
        result = _measure(service.port, _webhook_requests(wired.webhook_path), total, clients)
        rss = max((peak_rss_mb(pid) for pid in web.worker_pids()), default=0.0)
        return result, rss


def _line(label: str, result: LoadResult) -> str:
    codes = ", ".join(f"{code}: {count}" for code, count in sorted(result.statuses.items()))
    return (f"{label:34}{result.rate:10.0f} req/s   p50 {result.p(0.5):7.1f} ms   "
            f"p99 {result.p(0.99):7.1f} ms   ({codes})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    sandbox = Sandbox()
    try:
        capacity = client_capacity(_webhook_requests(BARE_PATH), total=args.requests * 2, clients=args.clients)
        bare = _bare(args.requests, args.clients)
        sqlite, rss = _webhook(args.requests, args.clients, sandbox, None)
        postgres = None if args.no_postgres else _webhook(args.requests, args.clients, sandbox, "postgres")[0]
    finally:
        sandbox.stop()
    print(f"{args.clients} keep-alive clients, {args.requests} requests each run (after {WARM_UP} warm-up)")
    print(_line("load generator vs trivial server", capacity))
    print(_line("bare Flask endpoint (baseline)", bare))
    print(_line("webhook, SQLite", sqlite))
    if postgres:
        print(_line("webhook, PostgreSQL", postgres))
    _report(capacity, bare, sqlite, postgres, rss)


def _report(capacity: LoadResult, bare: LoadResult, sqlite: LoadResult, postgres: LoadResult | None,
            rss: float) -> None:
    ratio = sqlite.rate / bare.rate
    ok = all(code < 300 for code in sqlite.statuses)
    emit("ingress SQLite throughput", round(sqlite.rate), unit="req/s", target=f">= {TARGET_RATIO} x bare",
         baseline=round(bare.rate), baseline_label="bare Flask", ratio=round(ratio, 2),
         met=ratio >= TARGET_RATIO and ok,
         note=f"p50 {sqlite.p(0.5):.1f} ms / p99 {sqlite.p(0.99):.1f} ms vs bare "
              f"{bare.p(0.5):.1f} / {bare.p(0.99):.1f} ms; client alone {capacity.rate:.0f} req/s")
    if postgres is not None:
        emit("ingress PostgreSQL throughput", round(postgres.rate), unit="req/s", target="reported",
             baseline=round(bare.rate), baseline_label="bare Flask", ratio=round(postgres.rate / bare.rate, 2),
             met=None, note=f"p50 {postgres.p(0.5):.1f} ms / p99 {postgres.p(0.99):.1f} ms")
    emit("ingress client capacity", round(capacity.rate), unit="req/s", target="> bare rate",
         baseline=round(bare.rate), baseline_label="bare Flask", ratio=round(capacity.rate / bare.rate, 2),
         met=capacity.rate > bare.rate, note="generator vs trivial asyncio server")
    emit("web worker peak RSS (ingress)", round(rss, 1), unit="MB", target=f"<= {TARGET_WEB_RSS_MB:.0f}",
         met=0 < rss <= TARGET_WEB_RSS_MB, note="VmHWM of the largest gunicorn worker")


if __name__ == "__main__":
    main()
