"""Reads never take SQLite's write lock (issue 13, finding 3): ``/metrics`` (open to anyone),
the ops page and its aggregates answer, with the right figures, while another connection holds
the write lock, instead of queueing behind it (and making every webhook queue behind them)."""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from typing import Any, Iterator

from core.store import events
from core.store.events import NewEvent


@contextmanager
def write_lock_held(rt: Any) -> Iterator[None]:
    """Another connection in the middle of a write transaction (BEGIN IMMEDIATE taken)."""
    path = rt.settings.database_url.split("///", 1)[1]
    connection = sqlite3.connect(path, timeout=0, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


def record_events(rt: Any, integration_id: str, count: int) -> None:
    for number in range(count):
        events.record(rt.db, NewEvent(
            integration_id=integration_id, source_event_id=f"read-{number}", organisation_id=number + 1,
            subject_type="Member", kind="update", payload={},
        ))


def test_metrics_answers_with_event_counts_while_a_writer_holds_the_lock(
    client: Any, admin: Any, rt: Any, sandbox: Any,
) -> None:
    from tests.support import create_integration

    integration = create_integration(client, admin, sandbox, "xero")
    record_events(rt, integration["id"], 3)
    with write_lock_held(rt):
        answer = client.get("/metrics")
    assert answer.status_code == 200
    line = f'events{{integration_id="{integration["id"]}",status="queued"}} 3.0'
    assert line in answer.get_data(as_text=True)


def test_ops_page_answers_while_a_writer_holds_the_lock(
    client: Any, admin: Any, rt: Any, sandbox: Any,
) -> None:
    from tests.support import create_integration

    integration = create_integration(client, admin, sandbox, "xero")
    record_events(rt, integration["id"], 2)
    with write_lock_held(rt):
        answer = client.get("/ops", headers=admin)
    assert answer.status_code == 200
    assert integration["name"] in answer.get_data(as_text=True)
