"""Benchmark: 1,000 new organisations for one Xero tenant arrive at once.

    python -m bench.burst [--count 1000] [--window 60] [--baseline-window 6] [--cap-windows 30]

The service runs as the Procfile starts it (gunicorn, dramatiq worker, scheduler: its relay
re-sends events the limiter put back). 1,000 webhooks (``member_create``) are sent by 16 clients
at once; the clock runs from the first one until every organisation is linked. Xero's limit is
60 calls per window, in the stand-in and in the service's limiter alike
(``RATE_LIMIT_WINDOW_SECONDS``).

Two runs, side by side: ``BATCH_CREATES=1`` (live creates of a tenant with a backlog are
coalesced into batch calls, up to 50 for Xero) and ``BATCH_CREATES=0``, one call per contact,
the baseline. Targets (issue 18): all linked within 1.5 windows, zero 429s, at most 0.05 write
calls per contact; the baseline needs at least 16 windows ((1,000 - 1) // 60 under a sliding
window).

Which window (issue 18 asked why the batched figure varied from 2.0 to 3.9 windows of 6 s):
the batched run makes about 30 calls in all, half of one window's 60, so the limiter never
holds it back; its time is the webhooks' own pace plus the worker's local work per contact,
both CPU on a shared machine (this benchmark prints the split and the busiest window's calls).
Counted in a window shortened to 6 s, every second of CPU weather was a sixth of a window.
So the batched run uses Xero's real minute (``--window``, 60 s), the limit the target is about,
and prints its seconds too; the baseline, which the limiter does bound (1,000 calls at 60 a
window), runs in a window shortened to ``--baseline-window`` (6 s, printed) so that it takes
minutes, not 17 of them: a limiter-bound run counts the same number of windows at any length.
A run that does not finish within ``--cap-windows`` is reported as such, with how many were
linked: nothing is estimated.
"""
from __future__ import annotations

import argparse
import itertools
import time
from typing import Any

from bench.common import ROOT, Sandbox, Service, emit, flush_bench_redis, wire_integration
from bench.loadgen import build_request, run_load

XERO_LIMIT = 60
TARGET_WINDOWS = 1.5
TARGET_WRITES_PER_CONTACT = 0.05
CLIENTS = 16
POLL_INTERVAL = 0.25


def batching_in_tree() -> bool:
    """Whether any service module reads ``BATCH_CREATES`` (the setting may not exist yet)."""
    for folder in ("core", "workers", "providers", "webhooks"):
        for path in (ROOT / folder).rglob("*.py"):
            if "BATCH_CREATES" in path.read_text(errors="ignore"):
                return True
    return False


def _linked(rt: Any, integration_id: str) -> int:
    from sqlalchemy import func, select

    from core.tables import Link

    with rt.db.session() as session:
        return session.scalar(select(func.count()).select_from(Link).where(Link.integration_id == integration_id))


def _run(count: int, window: float, cap_windows: float, batch: bool) -> dict[str, Any]:
    flush_bench_redis()
    sandbox = Sandbox(window=window, rate_limit=XERO_LIMIT)
    # The poll is off: it would find the seeded organisations before their webhooks arrive
    # and sync them early (the scheduler still runs the relay, which re-sends put-back events).
    env = {"BATCH_CREATES": "1" if batch else "0", "RECONCILE_INTERVAL_SECONDS": "0"}
    try:
        with Service(window=window, extra_env=env) as service:
            rt = service.runtime()
            wired = wire_integration(rt, sandbox)
            subdomain = wired.subdomain
            seeded = sandbox.post(sandbox.current_rms, "members/bulk",
                                  {"subdomain": subdomain, "count": count, "prefix": "Burst Org"})
            member_ids = seeded["ids"]
            service.start_web()
            service.start("worker")
            service.start("scheduler")
            time.sleep(2.0)
            sandbox.post(sandbox.xero, "reset", {})  # count only the burst's own calls
            result = _burst(service, sandbox, rt, wired, member_ids, window, cap_windows)
            rt.close()
            return result
    finally:
        sandbox.stop()


def _burst(service: Service, sandbox: Sandbox, rt: Any, wired: Any, member_ids: list[int],
           window: float, cap_windows: float) -> dict[str, Any]:
    base = int(time.time() * 1000) * 1000
    action_ids = itertools.count(base)

    def make(i: int) -> bytes:
        body = (b'{"action":{"id":%d,"subject_id":%d,"subject_type":"Member","action_type":"create"}}'
                % (next(action_ids), member_ids[i]))
        return build_request("POST", wired.webhook_path, body)

    began, began_wall = time.monotonic(), time.time()
    sent = run_load(service.port, make, total=len(member_ids), clients=CLIENTS)
    ingress_seconds = time.monotonic() - began
    deadline = began + cap_windows * window
    linked = 0
    while time.monotonic() < deadline:
        linked = _linked(rt, wired.id)
        if linked >= len(member_ids):
            break
        time.sleep(POLL_INTERVAL)
    wall = time.monotonic() - began
    calls = sandbox.get(sandbox.xero, "calls")["calls"]
    stats = sandbox.get(sandbox.xero, "stats")
    writes = sum(1 for c in calls if c["method"] in ("PUT", "POST") and "/Contacts" in c["path"])
    times = sorted(c["at"] - began_wall for c in calls)
    return {"busiest_window_calls": _busiest(times, window),
            "first_call_seconds": times[0] if times else None,
            "drain_seconds": wall - ingress_seconds,
            "count": len(member_ids), "linked": linked, "finished": linked >= len(member_ids),
            "wall": wall, "window": window, "windows": wall / window, "ingress_seconds": ingress_seconds,
            "accepted": sum(n for code, n in sent.statuses.items() if code < 300),
            "calls": len(calls), "writes": writes, "contacts": stats["contacts"],
            "refused_429": stats["refused_429"]}


def _busiest(times: list[float], window: float) -> int:
    """The most calls any ``window`` seconds held (the limiter allows 60)."""
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--window", type=float, default=60.0, help="the batched run's window (Xero's minute)")
    parser.add_argument("--baseline-window", type=float, default=6.0, help="the one-call-per-contact run's")
    parser.add_argument("--cap-windows", type=float, default=30.0)
    args = parser.parse_args(argv)
    print(f"Xero stand-in and the service's limiter: {XERO_LIMIT} calls per window; {args.window:g} s for "
          f"the batched run, {args.baseline_window:g} s (SHORTENED from 60 s) for the baseline.")
    batched = _run(args.count, args.window, args.cap_windows, batch=True)
    baseline = _run(args.count, args.baseline_window, args.cap_windows, batch=False)
    _report(batched, baseline)


def _report(batched: dict[str, Any], baseline: dict[str, Any]) -> None:
    rows = [("organisations", "count"), ("window (s)", "window"), ("webhooks accepted", "accepted"),
            ("linked", "linked"), ("webhooks sent in (s)", "ingress_seconds"),
            ("first Xero call at (s)", "first_call_seconds"), ("linked after the last webhook (s)", "drain_seconds"),
            ("wall time (s)", "wall"), ("wall time in windows", "windows"), ("Xero calls", "calls"),
            ("calls in the busiest window", "busiest_window_calls"), ("Xero write calls", "writes"),
            ("contacts in Xero", "contacts"), ("429s received", "refused_429")]
    print(f"\n{'':36}{'BATCH_CREATES=1':>18}{'BATCH_CREATES=0':>18}")
    for label, key in rows:
        cells = [f"{run[key]:.1f}" if isinstance(run[key], float) else str(run[key]) for run in (batched, baseline)]
        print(f"{label:36}{cells[0]:>18}{cells[1]:>18}")
    window = batched["window"]
    in_tree = batching_in_tree()
    note = "" if in_tree else "BATCH_CREATES is not read by any service module in this tree: no batching ran. "
    for run in (batched, baseline):
        if not run["finished"]:
            note += f"a run stopped at its cap with {run['linked']}/{run['count']} linked. "
    per_contact = batched["writes"] / max(1, batched["linked"])
    base_per_contact = baseline["writes"] / max(1, baseline["linked"])
    emit(f"burst: windows to link {batched['count']:,}", round(batched["windows"], 1) if batched["finished"] else None,
         unit=f"windows of {window:g} s", target=f"<= {TARGET_WINDOWS:g}",
         baseline=round(baseline["windows"], 1) if baseline["finished"] else None,
         baseline_label="one call per contact",
         ratio=round(batched["windows"] / baseline["windows"], 2) if baseline["windows"] else None,
         met=batched["finished"] and batched["windows"] <= TARGET_WINDOWS,
         note=(f"{batched['wall']:.1f} s: webhooks sent in {batched['ingress_seconds']:.1f} s, all linked "
               f"{batched['drain_seconds']:.1f} s after the last; {batched['calls']} calls, at most "
               f"{batched['busiest_window_calls']} in any window of {XERO_LIMIT} (the limiter never held it "
               f"back); baseline in windows of {baseline['window']:g} s. " + note).strip())
    emit("burst: write calls per contact", round(per_contact, 3), unit="calls/contact",
         target=f"<= {TARGET_WRITES_PER_CONTACT}", baseline=round(base_per_contact, 3),
         baseline_label="one call per contact",
         ratio=round(per_contact / base_per_contact, 3) if base_per_contact else None,
         met=batched["finished"] and per_contact <= TARGET_WRITES_PER_CONTACT)
    emit("burst: 429s received", batched["refused_429"], unit="429s", target="0",
         baseline=baseline["refused_429"], baseline_label="one call per contact", met=batched["refused_429"] == 0)
    # Under a sliding window, call n + 60 goes out at least one window after call n, so the last
    # of 1,000 calls is at least (1,000 - 1) // 60 = 16 windows after the first (not 17).
    floor = (baseline["count"] - 1) // XERO_LIMIT
    emit("burst baseline: windows (one call per contact)",
         round(baseline["windows"], 1), unit=f"windows of {baseline['window']:g} s", target=f">= {floor}",
         met=baseline["windows"] >= floor if baseline["finished"] else None,
         note=f"the floor without batching: ({baseline['count']:,} - 1) // {XERO_LIMIT} calls per window")


if __name__ == "__main__":
    main()
