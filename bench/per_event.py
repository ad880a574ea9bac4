"""Benchmark: what one event costs — SQL statements, Redis commands, calls to each system.

    python -m bench.per_event

In one process, on SQLite and the benchmarks' private Redis: a webhook is received (the Flask
app through its test client) and its sync run (``workers.processing.process_event``, as the
actor does) for three cases: a new organisation (create), an edit of a mapped field (edit),
and a repeated delivery with nothing changed (no-op edit). SQL statements are counted with a
SQLAlchemy ``before_cursor_execute`` listener (``BEGIN IMMEDIATE`` included; commits are not
statements), Redis commands with ``MONITOR`` (nothing else uses the private Redis), calls from
the stand-ins' call logs. Targets (issue 8): a create costs one write call at Xero (names are
unique there: create first, look up only on a clash), an edit one, a no-op edit none.
"""
from __future__ import annotations

import os
import threading
import time
from collections import Counter
from typing import Any

from bench.common import Sandbox, Service, emit, flush_bench_redis, redis_url, seed_member, wire_integration


class RedisCounter:
    """Every command the Redis server receives while counting (``MONITOR``)."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.commands: list[str] = []
        self.counting = False
        self._monitor = self.client.monitor()
        self._monitor.connection.send_command("MONITOR")
        self._monitor.connection.read_response()
        threading.Thread(target=self._listen, daemon=True).start()

    def _listen(self) -> None:
        try:
            for entry in self._monitor.listen():
                if self.counting:
                    name = entry["command"].split(" ", 1)[0].upper()
                    # Commands a Lua script runs are listed too; they are no round trips.
                    self.commands.append(f"lua:{name}" if entry.get("client_type") == "lua" else name)
        except Exception:  # the connection closed at the end of the run
            return

    def take(self) -> Counter[str]:
        time.sleep(0.2)  # MONITOR lines arrive a moment after the command
        taken = Counter(self.commands)
        self.commands = []
        return taken


class SqlCounter:
    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.statements: list[str] = []
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.statements.append(" ".join(statement.split()[:2]).upper() if statement.startswith("BEGIN")
                               else statement.split(None, 1)[0].upper())

    def take(self) -> Counter[str]:
        taken = Counter(self.statements)
        self.statements = []
        return taken


def _calls(sandbox: Sandbox, url: str, since: int) -> tuple[list[str], int]:
    log = sandbox.get(url, "calls", since=since)
    return [f"{c['method']} {c['path'].rsplit('/', 1)[-1] if 'Contacts/' in c['path'] else c['path']}"
            for c in log["calls"]], log["total"]


def main(argv: list[str] | None = None) -> None:
    flush_bench_redis()
    os.environ["REDIS_URL"] = redis_url()  # workers.broker reads it on import
    sandbox = Sandbox()
    try:
        with Service() as service:
            results = _measure(service, sandbox)
    finally:
        sandbox.stop()
    _report(results)


def _measure(service: Service, sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    from webhooks import create_app
    from workers.processing import process_event

    rt = service.runtime()
    wired = wire_integration(rt, sandbox)
    member_id = seed_member(sandbox, wired.subdomain, "Per Event Org")
    client = create_app(rt=rt).test_client()
    sql, redis_counter = SqlCounter(rt.db.engine), RedisCounter(redis_url())
    import workers.broker  # noqa: F401 - its engine-free Redis client is created on import
    from workers import outbox_sender
    marks = {"xero": 0, "rms": 0}
    action = iter(range(int(time.time() * 1000), 10 ** 15))

    def one(kind: str) -> dict[str, Any]:
        _, marks["xero"] = _calls(sandbox, sandbox.xero, marks["xero"])
        _, marks["rms"] = _calls(sandbox, sandbox.current_rms, marks["rms"])
        redis_counter.counting = True
        body = {"action": {"id": next(action), "subject_id": member_id, "subject_type": "Member",
                           "action_type": "create" if kind == "create" else "update"}}
        answer = client.post(wired.webhook_path, json=body)
        assert answer.status_code == 202, answer.get_json()
        # The webhook's message leaves from its sender thread: part of the webhook's cost.
        assert outbox_sender.flush_all(5.0)
        webhook = (sql.take(), redis_counter.take())
        status = process_event(rt, answer.get_json()["event_id"])
        sync = (sql.take(), redis_counter.take())
        redis_counter.counting = False
        xero, _ = _calls(sandbox, sandbox.xero, marks["xero"])
        rms, _ = _calls(sandbox, sandbox.current_rms, marks["rms"])
        return {"status": status, "webhook_sql": webhook[0], "webhook_redis": webhook[1],
                "sync_sql": sync[0], "sync_redis": sync[1], "xero": xero, "rms": rms}

    results = {"create": one("create")}
    sandbox.post(sandbox.current_rms, f"members/{member_id}/edit",
                 {"subdomain": wired.subdomain, "changes": {"name": "Per Event Org Renamed"}})
    results["edit"] = one("edit")
    results["no-op edit"] = one("no-op")
    rt.close()
    return results


def _round_trips(counter: Counter[str]) -> int:
    return sum(n for name, n in counter.items() if not name.startswith("lua:"))


def _fmt(counter: Counter[str]) -> str:
    return f"{sum(counter.values())} ({', '.join(f'{k} {v}' for k, v in counter.most_common())})"


def _report(results: dict[str, dict[str, Any]]) -> None:
    for case, r in results.items():
        writes = [c for c in r["xero"] if not c.startswith("GET")]
        print(f"\n{case}: sync {r['status']}")
        print(f"  webhook  SQL   {_fmt(r['webhook_sql'])}")
        print(f"  webhook  Redis {_fmt(r['webhook_redis'])}")
        print(f"  sync     SQL   {_fmt(r['sync_sql'])}")
        print(f"  sync     Redis {_fmt(r['sync_redis'])}")
        print(f"  Xero calls     {len(r['xero'])} {r['xero']} (writes {len(writes)})")
        print(f"  Current RMS    {len(r['rms'])} {r['rms']}")
    targets = {"create": 1, "edit": 1, "no-op edit": 0}
    for case, target in targets.items():
        r = results[case]
        writes = sum(1 for c in r["xero"] if not c.startswith("GET"))
        emit(f"Xero write calls per {case}", writes, unit="calls", target=f"= {target}",
             met=writes == target and r["status"] == "succeeded",
             note=f"all Xero calls {len(r['xero'])}; Current RMS calls {len(r['rms'])}")
    for case in ("create", "no-op edit"):
        r = results[case]
        sql = sum(r["webhook_sql"].values()) + sum(r["sync_sql"].values())
        trips = {part: _round_trips(r[f"{part}_redis"]) for part in ("webhook", "sync")}
        inside = sum(r["webhook_redis"].values()) + sum(r["sync_redis"].values()) - sum(trips.values())
        emit(f"SQL statements per {case} (webhook+sync)", sql, unit="statements", target="reported",
             met=None, note=f"webhook {sum(r['webhook_sql'].values())}, sync {sum(r['sync_sql'].values())}")
        emit(f"Redis round trips per {case} (webhook+sync)", sum(trips.values()), unit="commands",
             target="reported", met=None,
             note=f"webhook {trips['webhook']}, sync {trips['sync']}; plus {inside} run inside Lua scripts")


if __name__ == "__main__":
    main()
