"""Benchmark: what verifying every link costs — calls per 1,000 links, for each system.

    python -m bench.verify_links [--links 1000]

In one process, on SQLite and the benchmarks' private Redis, against the Xero, QuickBooks and
Sage stand-ins on 127.0.0.1 (their published rate limits, not shortened): ``--links`` contacts
are seeded in each, each linked to an organisation, a few archived or made inactive; then
``workers.ledger_verify.verify`` (what the verify-links job runs) reads them all. Calls are
counted from the stand-ins' call logs. The floor is what the batch reads allow: Xero 50 GUIDs
per ``IDs=`` read, QuickBooks 100 ids per ``Id IN (…)`` query (plus one read per inactive
customer, which the query does not answer), Sage 200 contacts per listing page (it has no read by
several ids). Xero also reads its ShortCode once (``GET /Organisation``), counted.
"""
from __future__ import annotations

import argparse
import math
import os
import uuid
from typing import Any, Callable

import requests

from bench.common import Service, emit, flush_bench_redis, redis_url
from core import runtime as runtime_module

SYSTEMS = ("xero", "quickbooks", "sage")
#: One contact in this many is archived / inactive before the verification.
ARCHIVED_EVERY = 50
API_PATHS = {"xero": ("/api.xro/2.0", "/connect/token", "tenant_id"),
             "quickbooks": ("/v3", "/oauth2/v1/tokens/bearer", "realm_id"),
             "sage": ("/v3.1", "/token", "business_id")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.verify_links")
    parser.add_argument("--links", type=int, default=1000)
    args = parser.parse_args(argv)
    flush_bench_redis()
    os.environ["REDIS_URL"] = redis_url()
    servers = _serve()
    try:
        with Service() as service:
            rt = service.runtime()
            # The verify pass sends the changes it finds through the broker, which the process
            # builds from its runtime's settings: the service's, not this shell's environment.
            runtime_module.install(rt)
            for kind in SYSTEMS:
                _measure(rt, kind, servers[kind].url, args.links)
            rt.close()
    finally:
        for server in servers.values():
            server.stop()


def _serve() -> dict[str, Any]:
    import logging

    from sandbox import quickbooks, sage, xero
    from sandbox.runner import ServerThread

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    return {"xero": ServerThread(xero.create_app()).start(),
            "quickbooks": ServerThread(quickbooks.create_app()).start(),
            "sage": ServerThread(sage.create_app()).start()}


def _measure(rt: Any, kind: str, url: str, count: int) -> None:
    from workers.ledger_verify import verify

    integration, tenant = _integration(rt, kind, url)
    ids = [SEEDERS[kind](url, tenant, n) for n in range(count)]
    for n in range(0, count, ARCHIVED_EVERY):
        ARCHIVERS[kind](url, tenant, ids[n])
    _link_all(rt, integration.id, ids)
    before = _total(url)
    counts = verify(rt, integration)
    calls = [c for c in requests.get(f"{url}/_sandbox/calls", params={"since": before}, timeout=60).json()["calls"]
             if not c["path"].startswith("/_sandbox")]
    per_thousand = len(calls) * 1000 / count
    floor = FLOORS[kind](count) * 1000 / count
    print(f"{kind}: {len(calls)} calls for {count} links ({counts}); "
          f"{', '.join(sorted({c['method'] + ' ' + c['path'].split('/')[-1] for c in calls}))}", flush=True)
    emit(f"verify-links calls per 1,000 links ({kind})", round(per_thousand, 1), unit="calls",
         target=f"<= floor {floor:g}", baseline=float(count), baseline_label="one read per link",
         ratio=round(per_thousand / floor, 2), met=per_thousand <= floor + 1e-9,
         note=f"{counts['changes']} of {count} links needed action (archived/inactive)")


FLOORS: dict[str, Callable[[int], float]] = {
    # IDs chunks of 50, plus the ShortCode read once
    "xero": lambda n: math.ceil(n / 50) + 1,
    # Id IN chunks of 100, plus one read per inactive customer the query leaves out
    "quickbooks": lambda n: math.ceil(n / 100) + math.ceil(n / ARCHIVED_EVERY),
    # listing pages of 200 (the ledger holds only the linked contacts here)
    "sage": lambda n: math.ceil(n / 200),
}


def _integration(rt: Any, kind: str, url: str) -> tuple[Any, str]:
    from core.store import integrations
    from core.store.integrations import NewIntegration

    tokens = requests.post(f"{url}/_sandbox/tokens", json={}, timeout=10).json()
    api_path, token_path, tenant_key = API_PATHS[kind]
    integration, _ = integrations.create(rt.db, rt.vault, NewIntegration(
        name=f"bench verify {kind}", provider_kind=kind, source_subdomain=f"b{uuid.uuid4().hex[:8]}",
        settings={"source": {"api_url": "http://127.0.0.1:9/api/v1"},
                  "provider": {tenant_key: tokens["tenant"], "api_url": f"{url}{api_path}",
                               "token_url": f"{url}{token_path}"}},
        secrets={"source_api_key": "k", "client_id": "bench", "client_secret": "bench",
                 "access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
                 "expires_at": "2999-01-01T00:00:00+00:00"},
    ))
    return integration, tokens["tenant"]


def _post(url: str, path: str, body: dict[str, Any]) -> Any:
    answer = requests.post(f"{url}/_sandbox/{path}", json=body, timeout=30)
    answer.raise_for_status()
    return answer.json() if answer.content else None


SEEDERS: dict[str, Callable[[str, str, int], str]] = {
    "xero": lambda url, t, n: _post(url, "contacts", {"tenant": t, "contact": {"Name": f"Bench {n}"}})["ContactID"],
    "quickbooks": lambda url, t, n: str(_post(url, "contacts", {"tenant": t, "DisplayName": f"Bench {n}"})["Customer"]["Id"]),
    "sage": lambda url, t, n: _post(url, "contacts", {"tenant": t, "contact": {"name": f"Bench {n}"}})["id"],
}
ARCHIVERS: dict[str, Callable[[str, str, str], Any]] = {
    "xero": lambda url, t, cid: _post(url, "archive", {"tenant": t, "contact_id": cid}),
    "quickbooks": lambda url, t, cid: _post(url, f"contacts/{cid}/deactivate", {"tenant": t}),
    "sage": lambda url, t, cid: requests.patch(f"{url}/_sandbox/contacts/{cid}", json={"is_active": False}, timeout=10),
}


def _link_all(rt: Any, integration_id: str, ids: list[str]) -> None:
    from sqlalchemy import insert

    from core.tables import Link, utcnow

    rows = [{"integration_id": integration_id, "organisation_id": n + 1, "organisation_name": f"Org {n}",
             "contact_id": cid, "contact_name": f"Bench {n}", "linked_at": utcnow(), "status": "ok"}
            for n, cid in enumerate(ids)]
    with rt.db.engine.begin() as connection:
        connection.execute(insert(Link.__table__), rows)


def _total(url: str) -> int:
    return int(requests.get(f"{url}/_sandbox/calls", params={"since": 10 ** 9}, timeout=10).json()["total"])


if __name__ == "__main__":
    main()
