"""Benchmark: the match review job (interface §11) over 10,000 organisations on each system.

    python -m bench.match_review [--count 10000] [--contacts 10000] [--systems xero,quickbooks,sage]

The stand-ins (Current RMS, Xero, QuickBooks, Sage) run in this process on 127.0.0.1 with
their rate limits RAISED (10,000 calls per 1 s window, printed), because this benchmark counts
calls, not time: the wall time is printed for information only. The review job runs in this
process exactly as a worker runs it (``workers.bulk.jobs.run_job``).

Each ledger holds ``--contacts`` active customers: a third agree with an organisation on name
and e-mail (full), a third on name only (partial), a third on nothing. Printed per system: calls
made to the accounting system and to Current RMS, calls per 1,000 organisations, and the floor
(organisations' pages + one count + the ledger's pages + Xero's one ``GET /Organisation`` for
web links; QuickBooks' query gives no total, so a full last page costs one more query), beside the one-query-per-organisation-and-key way it replaces.

Redis: the benchmarks' own (``bench.common.redis_url``).
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import tempfile
import time
from typing import Any

import requests

from bench.common import emit, redis_url

SYSTEMS = ("xero", "quickbooks", "sage")
#: Contacts per listing call of each system, organisations per rental-system page.
PAGE = {"xero": 100, "quickbooks": 1000, "sage": 200}
ORGANISATION_PAGE = 100
#: Raised limits: calls per window (the figure counted is calls, not time).
LIMIT, WINDOW = 10_000, 1.0
MATCH_ON = ["name", "email"]
PATHS = {"xero": ("/api.xro/2.0", "/connect/token", "tenant_id"),
         "quickbooks": ("/v3", "/oauth2/v1/tokens/bearer", "realm_id"),
         "sage": ("/v3.1", "/token", "business_id")}


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    servers, urls = _start()
    try:
        print(f"Stand-ins: rate limits RAISED to {LIMIT:,} calls per {WINDOW:g} s window; "
              f"calls are counted, time is for information.")
        rows = [_run(urls, system, args.count, args.contacts) for system in args.systems.split(",")]
        _report(rows, args.count)
    finally:
        for server in servers:
            server.stop()


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated kinds")
    return parser.parse_args(argv)


def _start() -> tuple[list[Any], dict[str, str]]:
    from sandbox import current_rms, quickbooks, sage, xero
    from sandbox.runner import ServerThread

    servers = {
        "current_rms": ServerThread(current_rms.create_app(rate_limit=LIMIT, window=WINDOW,
                                                           deliver_webhooks=False)).start(),
        "xero": ServerThread(xero.create_app(rate_limit=LIMIT, window=WINDOW, day_limit=10**7,
                                             concurrent_limit=100)).start(),
        "quickbooks": ServerThread(quickbooks.create_app(rate_limit=LIMIT, window=WINDOW,
                                                         concurrent_limit=100)).start(),
        "sage": ServerThread(sage.create_app(rate_limit=LIMIT, window=WINDOW)).start(),
    }
    return list(servers.values()), {name: s.url for name, s in servers.items()}


def _seed_ledger(session: requests.Session, url: str, system: str, tenant: str, count: int,
                 contacts: int) -> None:
    for n in range(1, contacts + 1):
        third = n % 3
        number = n if n <= count else count + n
        name = f"Bulk Organisation {number:05d}" if third in (0, 1) else f"Ledger Only {n:05d}"
        email = f"accounts{number}@bulk.example" if third == 0 else f"ledger{n}@other.example"
        if system == "xero":
            body: dict[str, Any] = {"tenant": tenant, "contact": {"Name": name, "EmailAddress": email}}
        elif system == "quickbooks":
            body = {"tenant": tenant, "DisplayName": name, "PrimaryEmailAddr": {"Address": email}}
        else:
            body = {"tenant": tenant, "contact": {"name": name, "main_contact_person": {
                "email": email, "is_main_contact": True}}}
        session.post(f"{url}/_sandbox/contacts", json=body, timeout=30).raise_for_status()


def _run(urls: dict[str, str], system: str, count: int, contacts: int) -> dict[str, Any]:
    from cryptography.fernet import Fernet

    from core.runtime import Runtime
    from core.settings import Settings
    from core.store import integrations, jobs
    from core.store.integrations import NewIntegration
    from workers.bulk.jobs import run_job

    session = requests.Session()
    subdomain, api_key = f"match{system}", "bench-key"
    session.post(f"{urls['current_rms']}/_sandbox/accounts",
                 json={"subdomain": subdomain, "api_key": api_key}, timeout=10).raise_for_status()
    session.post(f"{urls['current_rms']}/_sandbox/members/bulk",
                 json={"subdomain": subdomain, "count": count}, timeout=600).raise_for_status()
    tokens = session.post(f"{urls[system]}/_sandbox/tokens", json={}, timeout=10).json()
    seeding = time.monotonic()
    _seed_ledger(session, urls[system], system, tokens["tenant"], count, contacts)
    print(f"{system}: {count:,} organisations and {contacts:,} contacts seeded "
          f"({time.monotonic() - seeding:.0f} s)")
    folder = tempfile.mkdtemp(prefix="bench-match-")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{folder}/bench.db", "REDIS_URL": redis_url(),
           "ADMIN_TOKEN": "bench-admin-token-0123456789", "ENCRYPTION_KEY": Fernet.generate_key().decode(),
           "RATE_LIMIT_WINDOW_SECONDS": str(WINDOW), "LOG_LEVEL": "WARNING"}
    rt = Runtime.from_settings(Settings.from_env(env))
    rt.db.create_all()
    api_path, token_path, tenant_key = PATHS[system]
    integration, _ = integrations.create(rt.db, rt.vault, NewIntegration(
        name=f"bench match {system}", provider_kind=system, source_subdomain=subdomain,
        settings={"source": {"api_url": f"{urls['current_rms']}/api/v1"},
                  "provider": {tenant_key: tokens["tenant"], "api_url": f"{urls[system]}{api_path}",
                               "token_url": f"{urls[system]}{token_path}"},
                  "rate_limits": {system: {"per_minute": LIMIT, "per_second": LIMIT, "concurrent": 100},
                                  "current_rms": {"per_minute": LIMIT}}},
        secrets={"source_api_key": api_key, "client_id": "bench", "client_secret": "bench",
                 "access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
                 "expires_at": "2999-01-01T00:00:00+00:00"},
        policies={"match_on": MATCH_ON},
    ))
    before = {name: _total_calls(session, urls[name]) for name in ("current_rms", system)}
    job = jobs.create(rt.db, integration.id, "match")
    started = time.monotonic()
    run_job(rt, job.id)
    wall = time.monotonic() - started
    finished = jobs.get(rt.db, job.id)
    assert finished is not None
    calls = {name: _total_calls(session, urls[name]) - before[name] for name in before}
    summary = dict((finished.state or {}).get("summary") or {})
    rt.close()
    # QuickBooks' query answers no total: a full last page needs one more query to show it was
    # the last (a count(*) first would cost the same call).
    contact_pages = contacts // PAGE[system] + 1 if system == "quickbooks" else math.ceil(contacts / PAGE[system])
    floor = math.ceil(count / ORGANISATION_PAGE) + 1 + contact_pages + (1 if system == "xero" else 0)
    return {"system": system, "status": finished.status, "errors": finished.errors[:2],
            "ledger_calls": calls[system], "rental_calls": calls["current_rms"],
            "total": calls[system] + calls["current_rms"], "floor": floor, "wall": wall,
            "summary": summary, "per_org_way": count * len(MATCH_ON) + math.ceil(count / ORGANISATION_PAGE)}


def _total_calls(session: requests.Session, url: str) -> int:
    return int(session.get(f"{url}/_sandbox/calls", params={"since": 10**9}, timeout=30).json()["total"])


def _report(rows: list[dict[str, Any]], count: int) -> None:
    per = 1000 / count
    print(f"\n{'':44}" + "".join(f"{r['system']:>18}" for r in rows))
    lines = [("job status", lambda r: r["status"]),
             ("full / partial / none", lambda r: "{full}/{partial}/{none}".format(**r["summary"])),
             ("accounting-system calls", lambda r: f"{r['ledger_calls']:,}"),
             ("Current RMS calls", lambda r: f"{r['rental_calls']:,}"),
             ("calls per 1,000 organisations", lambda r: f"{r['total'] * per:.1f}"),
             ("floor per 1,000 organisations", lambda r: f"{r['floor'] * per:.1f}"),
             ("a query per organisation and key, per 1,000", lambda r: f"{r['per_org_way'] * per:.0f}"),
             ("wall time (s, information)", lambda r: f"{r['wall']:.1f}")]
    for label, cell in lines:
        print(f"{label:44}" + "".join(f"{cell(r):>18}" for r in rows))
    for row in rows:
        figure = round(row["total"] * per, 2)
        emit(f"match_review_calls_per_1000_{row['system']}", figure, unit="calls/1000 orgs",
             target=f"floor {row['floor'] * per:.1f}", baseline=round(row["per_org_way"] * per, 1),
             baseline_label="a query per organisation and key", ratio=round(row["total"] / row["floor"], 2),
             met=row["status"] == "succeeded" and row["total"] <= row["floor"],
             note=f"{count:,} organisations; limits raised (calls counted, not time)")


if __name__ == "__main__":
    main()
