"""Triggers that keep ``event_counts`` (events per integration and status) right as events
change, in the same transaction as the change (issue 13, finding 3).

Why triggers and not counting in ``core.store.events``: every writer of an event row, today's
and tomorrow's (the executor, bulk jobs, a hand-run UPDATE), keeps the counts right without
knowing of them. ``/metrics`` and the ops page then read a handful of rows instead of counting a
million events. This module only holds DDL (no import of the tables), so that both the Alembic
migration and ``Base.metadata.create_all`` (``core.tables``) install the same triggers.

Cost: on PostgreSQL, events of one integration and status update one counter row, so their
transactions take that row's lock in turn until each commits (each is a single short write).

A migration that rebuilds ``events`` in SQLite's batch mode (copy, drop, rename) drops these
triggers with the old table: it must call ``install`` again (the statements are idempotent).
"""
from __future__ import annotations

from typing import Any

SQLITE = [
    """CREATE TRIGGER IF NOT EXISTS event_counts_insert AFTER INSERT ON events BEGIN
        INSERT INTO event_counts (integration_id, status, count) VALUES (NEW.integration_id, NEW.status, 1)
        ON CONFLICT (integration_id, status) DO UPDATE SET count = count + 1;
    END""",
    """CREATE TRIGGER IF NOT EXISTS event_counts_delete AFTER DELETE ON events BEGIN
        UPDATE event_counts SET count = count - 1
        WHERE integration_id = OLD.integration_id AND status = OLD.status;
    END""",
    """CREATE TRIGGER IF NOT EXISTS event_counts_update AFTER UPDATE OF status, integration_id ON events
    WHEN OLD.status IS NOT NEW.status OR OLD.integration_id IS NOT NEW.integration_id BEGIN
        UPDATE event_counts SET count = count - 1
        WHERE integration_id = OLD.integration_id AND status = OLD.status;
        INSERT INTO event_counts (integration_id, status, count) VALUES (NEW.integration_id, NEW.status, 1)
        ON CONFLICT (integration_id, status) DO UPDATE SET count = count + 1;
    END""",
]

POSTGRESQL = [
    """CREATE OR REPLACE FUNCTION event_counts_track() RETURNS trigger AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            UPDATE event_counts SET count = count - 1
            WHERE integration_id = OLD.integration_id AND status = OLD.status;
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN
            INSERT INTO event_counts (integration_id, status, count) VALUES (NEW.integration_id, NEW.status, 1)
            ON CONFLICT (integration_id, status) DO UPDATE SET count = event_counts.count + 1;
        END IF;
        RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS event_counts_insert_delete ON events",
    """CREATE TRIGGER event_counts_insert_delete AFTER INSERT OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION event_counts_track()""",
    "DROP TRIGGER IF EXISTS event_counts_update ON events",
    """CREATE TRIGGER event_counts_update AFTER UPDATE OF status, integration_id ON events
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                       OR OLD.integration_id IS DISTINCT FROM NEW.integration_id)
    EXECUTE FUNCTION event_counts_track()""",
]

#: Counts of the events already stored when the triggers are installed.
SEED = """INSERT INTO event_counts (integration_id, status, count)
SELECT integration_id, status, COUNT(*) FROM events GROUP BY integration_id, status"""

DROP = {
    "sqlite": ["DROP TRIGGER IF EXISTS event_counts_insert", "DROP TRIGGER IF EXISTS event_counts_delete",
               "DROP TRIGGER IF EXISTS event_counts_update"],
    "postgresql": ["DROP TRIGGER IF EXISTS event_counts_insert_delete ON events",
                   "DROP TRIGGER IF EXISTS event_counts_update ON events",
                   "DROP FUNCTION IF EXISTS event_counts_track()"],
}


def statements(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return SQLITE
    if dialect == "postgresql":
        return POSTGRESQL
    raise ValueError(f"no event-count triggers for the {dialect} dialect")


def install(connection: Any) -> None:
    """Create the triggers on a connection (``events`` and ``event_counts`` exist)."""
    for statement in statements(connection.dialect.name):
        connection.exec_driver_sql(statement)
