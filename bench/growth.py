"""Benchmark: how the cost of the bulk export and of the links CSV grows with the organisations.

    python -m bench.growth [--counts 1000,10000] [--window 0.5] [--csv-counts 10000,100000]

Bulk export: the same export job (``bench.bulk_export``'s set-up: the rental and Xero stand-ins
in this process, the job in a separate worker process) runs for each of ``--counts``; printed
are the worker's wall time, the part of it that is the service's own work (wall less the time
inside Xero calls and waiting at the limiter) and its own peak resident memory (VmHWM).
The limit windows are SHORTENED to ``--window`` seconds (60 calls each) so that the run measures
the service's work, not waiting: the windows themselves are ``bench.bulk_export``'s subject.

Links CSV: ``GET /api/integrations/<id>/links.csv`` served by gunicorn as the Procfile starts
it, for each of ``--csv-counts`` organisations (one in ten linked; ``bench.csv_download``):
wall time of the streamed download and the serving worker's peak RSS (VmHWM).

Targets (issue 8): memory must not grow with the count (both page and stream: "flat" is a peak
within FLAT_FACTOR of the smaller count's), the export worker under 250 MB, and time that grows
at most linearly (the time per organisation within LINEAR_FACTOR of the smaller count's). Nothing is asserted: each figure is reported with whether it met its target.
"""
from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from bench.common import Sandbox, Service, emit, flush_bench_redis, redis_url

TARGET_WORKER_RSS_MB = 250.0
#: Memory "does not grow" when the larger run's peak is within this factor of the smaller's.
FLAT_FACTOR = 1.25
#: Time "grows at most linearly" when the time per organisation of the larger run is within
#: this factor of the smaller's (``_emit_linear``).
LINEAR_FACTOR = 1.25
#: The rental system's limit window for the CSV runs: SHORTENED (60 calls each) so far that the
#: limiter never holds a page (3,000 a second): at 0.25 s it held the 100,000 run's 1,000 pages
#: for about 4 s and the 10,000 run's 100 for almost nothing, which read as the service's growth.
CSV_WINDOW = 0.02


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="1000,10000", help="bulk export counts; empty: none")
    parser.add_argument("--window", type=float, default=0.5)
    parser.add_argument("--csv-counts", default="10000,100000", help="links CSV counts; empty: none")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    flush_bench_redis()
    os.environ["REDIS_URL"] = redis_url()  # bench.bulk_export hands REDIS_URL to its worker
    counts, csv_counts = _counts(args.counts), _counts(args.csv_counts)
    if len(counts) >= 2:
        report_export(export_runs(counts, args.window))
    if len(csv_counts) >= 2:
        report_csv(csv_runs(csv_counts))


def _counts(raw: str) -> list[int]:
    return [int(c) for c in raw.split(",") if c.strip()]


# --- the bulk export --------------------------------------------------------------------------

def export_runs(counts: list[int], window: float) -> list[dict[str, Any]]:
    from bench import bulk_export

    bench, servers = bulk_export._start(window)
    try:
        runs = [bulk_export._run(bench, count, batch_size=None, window=window) for count in counts]
    finally:
        for server in servers:
            server.stop()
    for run in runs:
        run["own"] = run["wall"] - run["xero_call_seconds"] - run["limiter_wait_seconds"]
    print(f"bulk export, windows of {window:g} s (SHORTENED)")
    print(f"{'organisations':>14}{'wall s':>10}{'in Xero s':>11}{'own s':>9}{'own per 1,000 s':>17}"
          f"{'peak RSS MiB':>14}{'job':>22}")
    for run in runs:
        print(f"{run['count']:14,}{run['wall']:10.1f}{run['xero_call_seconds']:11.1f}{run['own']:9.1f}"
              f"{run['own'] / run['count'] * 1000:17.2f}{run['peak_rss_mb']:14.0f}{run['job']['status']:>22}")
    return runs


def report_export(runs: list[dict[str, Any]]) -> None:
    small, large = runs[0], runs[-1]
    grew = large["peak_rss_mb"] / small["peak_rss_mb"]
    emit(f"growth: export worker peak RSS, {large['count']:,} orgs", round(large["peak_rss_mb"]), unit="MiB",
         target=f"<= {TARGET_WORKER_RSS_MB:.0f}, flat (ratio <= {FLAT_FACTOR})",
         baseline=round(small["peak_rss_mb"]), baseline_label=f"{small['count']:,} orgs", ratio=round(grew, 2),
         met=large["peak_rss_mb"] <= TARGET_WORKER_RSS_MB and grew <= FLAT_FACTOR
         and large["job"]["status"] == "succeeded",
         note=f"job {large['job']['status']}, {large['job']['failed']} failed")
    for key, label, note in (
            ("wall", "wall time", f"of which {large['xero_call_seconds']:.0f} s inside the Xero stand-in "
                                  f"({small['xero_call_seconds']:.1f} s at {small['count']:,})"),
            ("own", "service's own time", "wall less time inside Xero calls and at the limiter")):
        _emit_linear(f"growth: export {label} per organisation, {large['count']:,} orgs",
                     (small[key], small["count"]), (large[key], large["count"]),
                     met=large["job"]["status"] == "succeeded",
                     note=f"{large[key]:.1f} s vs {small[key]:.1f} s; {note}")


def _emit_linear(name: str, small: tuple[float, int], large: tuple[float, int], *, met: bool, note: str) -> None:
    """Time grows at most linearly: the time per organisation of the larger run within
    ``LINEAR_FACTOR`` of the smaller's. (Comparing total times against the count ratio itself,
    as before, failed a perfectly linear run about half the time, on noise alone.)"""
    per_small, per_large = (seconds * 1000 / count for seconds, count in (small, large))
    ratio = per_large / per_small if per_small > 0 else None
    emit(name, round(per_large, 3), unit="ms/org", target=f"linear (ratio <= {LINEAR_FACTOR})",
         baseline=round(per_small, 3), baseline_label=f"{small[1]:,} orgs",
         ratio=round(ratio, 2) if ratio else None, met=met and ratio is not None and ratio <= LINEAR_FACTOR,
         note=note)


# --- the links CSV ----------------------------------------------------------------------------

def csv_runs(counts: list[int]) -> list[dict[str, Any]]:
    from bench.csv_download import RentalTimer, measure

    sandbox = Sandbox()
    timer = RentalTimer().install(sandbox.servers[0].app)
    try:
        with Service(window=CSV_WINDOW) as service:
            runs = [measure(service, sandbox, timer, count) for count in counts]
    finally:
        sandbox.stop()
    print(f"\nlinks CSV download (gunicorn as the Procfile starts it; rental limit window {CSV_WINDOW:g} s)")
    print(f"{'organisations':>14}{'status':>8}{'rows':>9}{'linked':>8}{'MiB':>7}{'wall s':>9}"
          f"{'in rental s':>13}{'idle RSS':>10}{'peak RSS MiB':>14}")
    for run in runs:
        print(f"{run['count']:14,}{run['status']:8}{run['rows']:9,}{run['rows_linked']:8,}"
              f"{run['bytes'] / 2 ** 20:7.1f}{run['seconds']:9.1f}{run['rental_seconds']:13.1f}"
              f"{run['idle_rss_mb']:10.0f}{run['peak_rss_mb']:14.0f}")
    return runs


def report_csv(runs: list[dict[str, Any]]) -> None:
    small, large = runs[0], runs[-1]
    complete = all(r["status"] == 200 and r["rows"] == r["count"] and r["rows_linked"] == r["linked"]
                   for r in runs)
    rows = "; ".join(f"{r['count']:,}: {r['status']}, {r['rows']:,} rows, {r['rows_linked']:,} linked"
                     for r in runs)
    grew = large["peak_rss_mb"] / small["peak_rss_mb"]
    emit(f"growth: links.csv web worker peak RSS, {large['count']:,} orgs", round(large["peak_rss_mb"]),
         unit="MiB", target=f"flat (ratio <= {FLAT_FACTOR})", baseline=round(small["peak_rss_mb"]),
         baseline_label=f"{small['count']:,} orgs", ratio=round(grew, 2), met=complete and grew <= FLAT_FACTOR,
         note=f"VmHWM of the serving gunicorn worker (idle {large['idle_rss_mb']:.0f} MiB); {rows}")
    own = [r["seconds"] - r["rental_seconds"] for r in (small, large)]
    _emit_linear(f"growth: links.csv wall time per organisation, {large['count']:,} orgs",
                 (small["seconds"], small["count"]), (large["seconds"], large["count"]), met=complete,
                 note=f"{large['seconds']:.1f} s vs {small['seconds']:.1f} s, of which {large['rental_seconds']:.0f} s "
                      f"inside the rental stand-in's {large['rental_calls']:,} pages; the rest {own[1]:.1f} s vs "
                      f"{own[0]:.1f} s at {small['count']:,}")


if __name__ == "__main__":
    main()
