"""Benchmark: how the cost of a bulk export grows with the number of organisations.

    python -m bench.growth [--counts 1000,10000] [--window 0.5]

The same export job (``bench.bulk_export``'s set-up: the rental and Xero stand-ins in this
process, the job in a separate worker process) runs for each count; printed are its wall time
and the worker process's peak resident memory (``ru_maxrss``). The limit windows are SHORTENED
to ``--window`` seconds (60 calls each) so that the run measures the service's own work, not
waiting: the windows themselves are ``bench.bulk_export``'s subject. Memory must not grow with
the count (the export pages and streams): the 10,000 run is compared with the 1,000 run, and
its peak must stay at most 250 MB.
"""
from __future__ import annotations

import argparse
import logging
import os

from bench.common import emit, flush_bench_redis, redis_url

TARGET_WORKER_RSS_MB = 250.0
#: Memory "does not grow" when the larger run's peak is within this factor of the smaller's.
FLAT_FACTOR = 1.25


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="1000,10000")
    parser.add_argument("--window", type=float, default=0.5)
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.counts.split(",")]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    flush_bench_redis()
    os.environ["REDIS_URL"] = redis_url()  # bench.bulk_export hands REDIS_URL to its worker
    from bench import bulk_export

    bench, servers = bulk_export._start(args.window)
    try:
        runs = [bulk_export._run(bench, count, batch_size=None, window=args.window) for count in counts]
    finally:
        for server in servers:
            server.stop()
    print(f"{'organisations':>14}{'wall s':>10}{'per 1,000 s':>13}{'peak RSS MiB':>14}{'job':>22}")
    for run in runs:
        print(f"{run['count']:14,}{run['wall']:10.1f}{run['wall'] / run['count'] * 1000:13.2f}"
              f"{run['peak_rss_mb']:14.0f}{run['job']['status']:>22}")
    _report(runs[0], runs[-1])


def _report(small: dict, large: dict) -> None:
    grew = large["peak_rss_mb"] / small["peak_rss_mb"]
    emit(f"export worker peak RSS, {large['count']:,} orgs", round(large["peak_rss_mb"]), unit="MB",
         target=f"<= {TARGET_WORKER_RSS_MB:.0f}, flat", baseline=round(small["peak_rss_mb"]),
         baseline_label=f"{small['count']:,} orgs", ratio=round(grew, 2),
         met=large["peak_rss_mb"] <= TARGET_WORKER_RSS_MB and grew <= FLAT_FACTOR
         and large["job"]["status"] == "succeeded",
         note=f"job {large['job']['status']}, {large['job']['failed']} failed")
    scale = large["count"] / small["count"]
    emit(f"export wall time, {large['count']:,} orgs", round(large["wall"], 1), unit="s",
         target=f"grows at most linearly (ratio <= {scale:g})", baseline=round(small["wall"], 1),
         baseline_label=f"{small['count']:,} orgs", ratio=round(large["wall"] / small["wall"], 2),
         met=large["wall"] / small["wall"] <= scale, note="windows shortened: the service's own work")


if __name__ == "__main__":
    main()
