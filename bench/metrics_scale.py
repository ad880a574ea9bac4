"""``/metrics`` and the ops page's aggregates at 1,000,000 events (issue 13, finding 3).

    python -m bench.metrics_scale [--events 1000000] [--integrations 20]

Builds a SQLite database (migrated with Alembic, so the ``event_counts`` triggers are on) with
the given number of events spread over 90 days, about what 11,000 events a day leave before
retention prunes them, in every status. Then it times, each the median of 20 runs:

- the events-by-status figures of ``/metrics`` (``event_counts``, kept by triggers), against
  the old count of every event (``GROUP BY status, integration_id`` over ``events``);
- the ops page's last-hour and last-day counts (``webhooks.ops.data.recent_counts``);
- a whole ``GET /metrics`` and ``GET /ops`` through the Flask app.

Target: each read at most 100 ms. It also checks that the kept counts equal the real ones.
"""
from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from bench.common import ADMIN_TOKEN, emit, redis_url

STATUSES = (("succeeded", 0.90), ("skipped", 0.05), ("failed", 0.04), ("queued", 0.004),
            ("retrying", 0.004), ("processing", 0.002))
TARGET_MS = 100.0
RUNS = 20


def median_ms(call: Callable[[], Any], runs: int = RUNS) -> float:
    call()  # warm the page cache and the pools
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def fill(path: Path, integration_ids: list[str], count: int) -> None:
    """Insert ``count`` events straight through sqlite3 (the triggers count them as they go)."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    names, weights = zip(*STATUSES, strict=True)
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("BEGIN")
    batch = []
    for number in range(count):
        received = now - timedelta(seconds=random.uniform(0, 90 * 86400))
        batch.append((uuid.uuid4().hex, random.choice(integration_ids), f"bench-{number}",
                      number % 50_000 + 1, "Member", "update", random.choices(names, weights)[0],
                      0, 0, received.isoformat(sep=" "), "{}"))
        if len(batch) == 50_000:
            connection.executemany(INSERT, batch)
            batch.clear()
    connection.executemany(INSERT, batch)
    connection.execute("COMMIT")
    connection.close()


INSERT = ("INSERT INTO events (id, integration_id, source_event_id, organisation_id, subject_type, kind, "
          "status, attempts, force_write, received_at, payload) VALUES (?,?,?,?,?,?,?,?,?,?,?)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--integrations", type=int, default=20)
    args = parser.parse_args()

    from cryptography.fernet import Fernet
    from sqlalchemy import func, select

    from core.runtime import Runtime
    from core.settings import Settings
    from core.store import event_counts, integrations
    from core.store.integrations import NewIntegration
    from core.tables import Event
    from tests.conftest import migrate
    from webhooks import create_app
    from webhooks.ops import data

    folder = Path(tempfile.mkdtemp(prefix="metrics-scale-"))
    url = f"sqlite:///{folder}/app.db"
    migrate(url)
    settings = Settings.from_env({
        "ADMIN_TOKEN": ADMIN_TOKEN, "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": url, "REDIS_URL": redis_url(),
    })
    rt = Runtime.from_settings(settings)
    ids = [integrations.create(rt.db, rt.vault, NewIntegration(
        name=f"Tenant {n}", provider_kind="xero", source_subdomain=f"t{n}",
        secrets={"source_api_key": "k"}))[0].id for n in range(args.integrations)]
    started = time.monotonic()
    fill(folder / "app.db", ids, args.events)
    print(f"filled {args.events} events in {time.monotonic() - started:.0f} s", flush=True)

    def old_count() -> list[Any]:
        with rt.db.reading() as session:
            return list(session.execute(select(Event.status, Event.integration_id, func.count())
                                        .group_by(Event.status, Event.integration_id)))

    real = {(i, s): n for s, i, n in old_count()}
    kept = {(i, s): n for i, s, n in event_counts.by_integration_and_status(rt.db)}
    assert kept == real, "kept counts differ from the real ones"

    everything = integrations.all_active(rt.db)
    app = create_app({"TESTING": True}, rt=rt)
    client = app.test_client()
    figures = {
        "metrics_event_counts_ms": median_ms(lambda: event_counts.by_integration_and_status(rt.db)),
        "metrics_old_group_by_ms": median_ms(old_count, runs=5),
        "ops_recent_counts_ms": median_ms(lambda: data.recent_counts(rt, everything)),
        "get_metrics_ms": median_ms(lambda: client.get("/metrics")),
        "get_ops_ms": median_ms(lambda: client.get("/ops", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})),
    }
    for name, value in figures.items():
        print(f"{name}: {value:.1f} ms", flush=True)
    for name in ("get_metrics_ms", "get_ops_ms", "ops_recent_counts_ms"):
        emit(f"metrics_scale.{name}", round(figures[name], 1), unit="ms", target=f"<= {TARGET_MS:.0f} ms",
             baseline=round(figures["metrics_old_group_by_ms"], 1) if name == "get_metrics_ms" else None,
             baseline_label="GROUP BY over every event", met=figures[name] <= TARGET_MS,
             note=f"{args.events} events, {args.integrations} integrations, SQLite")
    rt.close()


if __name__ == "__main__":
    main()
