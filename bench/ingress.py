"""Benchmark: the service's webhook beside a minimal durable receiver and bare Flask, driven by wrk.

    python -m bench.ingress [--seconds 10] [--rounds 2] [--postgres] [--profile DIR]

Three targets run at once, each under gunicorn with 2 worker processes × 4 threads (gthread),
and wrk (2 threads, 32 keep-alive connections, ``--seconds`` each) drives them one after the
other, every request a real webhook body with a fresh ``action.id`` (``bench.wrk``):

- **service**: the Procfile's ``web:`` line as it is (gunicorn.conf.py, its JSON access log,
  structlog, Prometheus multiprocess files as ``make run`` sets them), SQLite, the private Redis;
  each delivery is committed and handed to the broker (no worker runs, so the queue only grows);
- **durable**: the least a receiver that keeps its promise does: Flask, one SQLite INSERT
  committed (WAL, ``synchronous=NORMAL``; a unique index on the delivery id, as the service's
  duplicate check), one Redis ``LPUSH``, then 202;
- **bare**: Flask answering 202 with a small JSON body.

The baselines run under plain gunicorn (no access log, gunicorn's default); the service with
its own settings. The machine may be shared: the rounds interleave the targets (the order
turns each round) and each ratio is taken within one round, the median over the rounds is
reported. Targets (issue 18): service ≥ 0.7 × durable, ≥ 0.3 × bare, p99 ≤ 150 ms, and every
answer a 2xx with its event in the database. ``--profile DIR`` then profiles the service's
workers with py-spy during one more run (not counted) and writes the stacks and a summary there.
wrk missing: the benchmark says how to install it and reports nothing measured.
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import wrk
from bench.common import (
    Process,
    Sandbox,
    Service,
    emit,
    flush_bench_redis,
    peak_rss_mb,
    wire_integration,
)
from bench.profile import Recording, summarise

TARGET_VS_DURABLE = 0.7
TARGET_VS_BARE = 0.3
TARGET_P99_MS = 150.0
TARGET_WEB_RSS_MB = 150.0
WARM_UP_SECONDS = 2.0
#: All three under the same gunicorn shape (the Procfile's defaults).
WORKERS, THREADS = 2, 4
BASELINE_PATH = "/webhooks/current-rms/baseline"
DURABLE_QUEUE = "bench:ingress:durable"
DURABLE_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    integration_id TEXT NOT NULL,
    source_event_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at REAL NOT NULL,
    UNIQUE (integration_id, source_event_id)
)
"""


def make_bare_app():  # -> Flask; gunicorn calls it: 'bench.ingress:make_bare_app()'
    """The ceiling: Flask answering 202 with a small JSON body, nothing else."""
    from flask import Flask, jsonify

    app = Flask(__name__)

    @app.post("/webhooks/current-rms/<integration_id>")
    def receive(integration_id: str):
        return jsonify({"event_id": "x", "status": "queued"}), 202

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app


def make_durable_app():  # -> Flask; 'bench.ingress:make_durable_app()'
    """The floor of a receiver that keeps the promise: committed (WAL, synchronous=NORMAL),
    handed to Redis, then 202; a repeated delivery id answers 200 (the unique index)."""
    import os
    import threading
    import uuid

    import redis
    from flask import Flask, jsonify, request

    database = os.environ["INGRESS_DURABLE_DB"]
    queue = redis.Redis.from_url(os.environ["REDIS_URL"])
    local = threading.local()

    def connection() -> sqlite3.Connection:
        if getattr(local, "connection", None) is None:
            local.connection = sqlite3.connect(database, timeout=10, isolation_level=None)
            local.connection.execute("PRAGMA journal_mode=WAL")
            local.connection.execute("PRAGMA synchronous=NORMAL")
        return local.connection

    app = Flask(__name__)

    @app.post("/webhooks/current-rms/<integration_id>")
    def receive(integration_id: str):
        body = request.get_data()
        action_id = json.loads(body)["action"]["id"]
        event_id = uuid.uuid4().hex
        try:
            connection().execute(
                "INSERT INTO deliveries VALUES (?, ?, ?, ?, ?)",
                (event_id, integration_id, str(action_id), body.decode(), time.time()),
            )
        except sqlite3.IntegrityError:
            return jsonify({"event_id": None, "duplicate": True}), 200
        queue.lpush(DURABLE_QUEUE, event_id)
        return jsonify({"event_id": event_id, "status": "queued"}), 202

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app


@dataclass
class Target:
    name: str
    label: str
    service: Service
    web: Process
    path: str
    results: list[wrk.WrkResult] = field(default_factory=list)
    #: CPU seconds (user + system) of the gunicorn processes per answered request, per run.
    cpu_ms: list[float] = field(default_factory=list)

    def measure(self, ids: wrk.IdSpace, seconds: float) -> wrk.WrkResult:
        before = self.cpu_seconds()
        result = wrk.run(self.service.url, self.path, ids=ids, seconds=seconds)
        if result.requests:
            self.cpu_ms.append(1000 * (self.cpu_seconds() - before) / result.requests)
        return result

    def cpu_seconds(self) -> float:
        """CPU time of gunicorn's master and workers so far: what a request costs, whatever
        else the shared machine is doing at the time."""
        import psutil

        total = 0.0
        for pid in (self.web.pid, *self.web.worker_pids()):
            try:
                times = psutil.Process(pid).cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
        return total

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(result, attribute) for result in self.results)

    def answered_2xx(self) -> int:
        return sum(count for result in self.results for code, count in result.statuses.items()
                   if 200 <= code < 300)


def _plain_gunicorn(app: str, port: int) -> str:
    return (f"gunicorn --workers {WORKERS} --threads {THREADS} --worker-class gthread "
            f"--bind 127.0.0.1:{port} --no-control-socket '{app}'")


def _start_baseline(name: str, label: str, app: str, service: Service | None = None) -> Target:
    service = service or Service()
    web = service.start(name, _plain_gunicorn(app, service.port), ready=lambda: _healthy(service))
    return Target(name, label, service, web, BASELINE_PATH)


def _start_durable() -> Target:
    service = Service()
    database = service.folder / "durable.db"
    with sqlite3.connect(database) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(DURABLE_SCHEMA)
    service.env["INGRESS_DURABLE_DB"] = str(database)
    return _start_baseline("durable", "minimal durable receiver", "bench.ingress:make_durable_app()", service)


def _start_service(sandbox: Sandbox, database: str | None = None) -> Target:
    service = Service(database_url=database)
    # As `make run` sets it: every process of the host counts into files in one folder.
    multiproc = service.folder / "prometheus"
    multiproc.mkdir()
    service.env["PROMETHEUS_MULTIPROC_DIR"] = str(multiproc)
    rt = service.runtime()
    wired = wire_integration(rt, sandbox)
    rt.close()
    web = service.start_web()
    label = "service webhook" + (" (PostgreSQL)" if database else "")
    return Target("service" if database is None else "postgres", label, service, web, wired.webhook_path)


def _healthy(service: Service) -> bool:
    from bench.common import _answers

    return _answers(service.url)


def _line(label: str, result: wrk.WrkResult) -> str:
    codes = ", ".join(f"{code}: {count}" for code, count in sorted(result.statuses.items()))
    errors = f", socket errors: {result.socket_errors}" if result.socket_errors else ""
    return (f"  {label:28}{result.rate:8.0f} req/s   p50 {result.p50_ms:6.1f} ms   p90 {result.p90_ms:6.1f} ms"
            f"   p99 {result.p99_ms:6.1f} ms   ({codes}{errors})")


def _rows_in(target: Target) -> int:
    """Events committed by the service (or deliveries by the durable receiver)."""
    if target.name == "durable":
        database = target.service.folder / "durable.db"
        with sqlite3.connect(database) as connection:
            return connection.execute("SELECT count(*) FROM deliveries").fetchone()[0]
    from sqlalchemy import func, select

    from core.tables import Event

    rt = target.service.runtime()
    try:
        with rt.db.reading() as session:
            return session.scalar(select(func.count()).select_from(Event))
    finally:
        rt.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="wrk run per target and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--postgres", action="store_true", help="also the service on PostgreSQL")
    parser.add_argument("--profile", type=Path, default=None, help="folder for py-spy profiles")
    args = parser.parse_args(argv)
    if wrk.binary() is None:
        print(wrk.INSTALL_HINT, flush=True)
        emit("ingress (wrk)", None, unit="req/s", target="wrk installed", met=None,
             note=f"not measured: {wrk.INSTALL_HINT}")
        return
    flush_bench_redis()
    sandbox = Sandbox()
    targets: list[Target] = []
    try:
        targets.append(_start_service(sandbox))
        targets.append(_start_durable())
        targets.append(_start_baseline("bare", "bare Flask", "bench.ingress:make_bare_app()"))
        if args.postgres:
            targets.append(_start_service(sandbox, "postgres"))
        ids = wrk.IdSpace()
        _run(targets, ids, args.seconds, args.rounds)
        _report(targets, args.seconds, args.rounds)
        if args.profile is not None:
            _profile(targets[0], ids, args.profile, args.seconds)
    finally:
        for target in targets:
            target.service.stop()
        sandbox.stop()


def _run(targets: list[Target], ids: wrk.IdSpace, seconds: float, rounds: int) -> None:
    for target in targets:
        target.measure(ids, WARM_UP_SECONDS)
        target.cpu_ms.clear()
    flush_bench_redis()
    for number in range(rounds):
        # The order turns each round, so no target always runs first (or after the heaviest).
        order = targets[number % len(targets):] + targets[:number % len(targets)]
        print(f"round {number + 1} of {rounds} ({seconds:g} s each, wrk -t2 -c32)", flush=True)
        for target in order:
            result = target.measure(ids, seconds)
            target.results.append(result)
            print(_line(target.label, result) + f"  cpu {target.cpu_ms[-1]:.2f} ms/req", flush=True)


def _report(targets: list[Target], seconds: float, rounds: int) -> None:
    by_name = {target.name: target for target in targets}
    service, durable, bare = by_name["service"], by_name["durable"], by_name["bare"]
    vs_durable = statistics.median(s.rate / d.rate for s, d in zip(service.results, durable.results, strict=True))
    vs_bare = statistics.median(s.rate / b.rate for s, b in zip(service.results, bare.results, strict=True))
    p99 = service.median("p99_ms")
    # Durability, checked: every 2xx the service gave is an event in its database (the
    # warm-up's deliveries were answered too, so there are at least as many rows as 2xx here).
    answered, rows = service.answered_2xx(), _rows_in(service)
    clean = all(result.all_2xx for result in service.results) and rows >= answered
    print(f"\nmedian of {rounds} rounds: service {service.median('rate'):.0f} req/s, durable "
          f"{durable.median('rate'):.0f}, bare {bare.median('rate'):.0f}; service/durable {vs_durable:.2f}, "
          f"service/bare {vs_bare:.2f}; per-round ratios "
          + ", ".join(f"{s.rate / d.rate:.2f}/{s.rate / b.rate:.2f}"
                      for s, d, b in zip(service.results, durable.results, bare.results, strict=True)))
    print("CPU per request (gunicorn processes, median): " + ", ".join(
        f"{target.name} {statistics.median(target.cpu_ms):.2f} ms" for target in targets))
    print(f"service answered {answered} deliveries with a 2xx in the measured runs; {rows} events "
          f"in its database (warm-up included)")
    shape = f"wrk -t2 -c32, {seconds:g} s x {rounds} rounds, gunicorn {WORKERS}x{THREADS} gthread"
    emit("ingress webhook vs minimal durable receiver", round(service.median("rate")), unit="req/s",
         target=f">= {TARGET_VS_DURABLE} x durable", baseline=round(durable.median("rate")),
         baseline_label="Flask + SQLite commit + LPUSH", ratio=round(vs_durable, 2),
         met=vs_durable >= TARGET_VS_DURABLE and clean,
         note=f"{shape}; median of per-round ratios; every answer 2xx and committed: {clean}; CPU per "
              f"request {statistics.median(service.cpu_ms):.2f} ms vs durable {statistics.median(durable.cpu_ms):.2f}"
              f" and bare {statistics.median(bare.cpu_ms):.2f} ms")
    emit("ingress webhook vs bare Flask", round(service.median("rate")), unit="req/s",
         target=f">= {TARGET_VS_BARE} x bare", baseline=round(bare.median("rate")), baseline_label="bare Flask",
         ratio=round(vs_bare, 2), met=vs_bare >= TARGET_VS_BARE and clean)
    emit("ingress webhook p99 under load", round(p99, 1), unit="ms", target=f"<= {TARGET_P99_MS:.0f}",
         baseline=round(durable.median("p99_ms"), 1), baseline_label="durable receiver p99",
         ratio=round(p99 / durable.median("p99_ms"), 2), met=p99 <= TARGET_P99_MS,
         note=f"p50 {service.median('p50_ms'):.1f} ms (durable {durable.median('p50_ms'):.1f}, "
              f"bare {bare.median('p50_ms'):.1f}); bare p99 {bare.median('p99_ms'):.1f} ms")
    if "postgres" in by_name:
        postgres = by_name["postgres"]
        emit("ingress webhook on PostgreSQL", round(postgres.median("rate")), unit="req/s", target="reported",
             baseline=round(durable.median("rate")), baseline_label="durable receiver (SQLite)",
             ratio=round(postgres.median("rate") / durable.median("rate"), 2), met=None,
             note=f"p50 {postgres.median('p50_ms'):.1f} ms / p99 {postgres.median('p99_ms'):.1f} ms")
    rss = max((peak_rss_mb(pid) for pid in service.web.worker_pids()), default=0.0)
    emit("web worker peak RSS (ingress)", round(rss, 1), unit="MB", target=f"<= {TARGET_WEB_RSS_MB:.0f}",
         met=0 < rss <= TARGET_WEB_RSS_MB, note="VmHWM of the largest gunicorn worker")


def _profile(service: Target, ids: wrk.IdSpace, folder: Path, seconds: float) -> None:
    """Two more wrk runs on the service, sampled by py-spy (not counted in the figures): where
    the CPU goes (the thread holding the GIL) and where the time goes (threads not idle)."""
    folder.mkdir(parents=True, exist_ok=True)
    for mode in ("gil", "wall"):
        stacks = folder / f"ingress-service.{mode}.collapsed.txt"
        recording = Recording.start(service.web.pid, stacks, seconds=seconds, gil=mode == "gil")
        if recording is None:
            return
        time.sleep(1.0)  # py-spy attaches to every worker before the load starts
        result = service.measure(ids, seconds)
        collapsed = recording.finish()
        if collapsed is None:
            return
        text = f"py-spy --{mode if mode == 'gil' else 'nonblocking'}: {_line('under py-spy', result).strip()}\n\n"
        text += summarise(collapsed)
        (folder / f"ingress-service.{mode}.profile.txt").write_text(text)
        print(f"\npy-spy profile ({mode}) of the service's web workers, in {folder}:\n{text}", flush=True)


if __name__ == "__main__":
    main()
