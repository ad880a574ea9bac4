"""Benchmark: how fast the accounting systems' webhooks are answered, against their deadlines.

    python -m bench.ledger_receive [--deliveries 1500] [--clients 32]

Xero wants a 200 within 5 s and Intuit within 3 s, or they retry (and Xero turns a failing
webhook off after 24 h). The service's web process (the Procfile's ``web:`` line, gunicorn with
its own settings, SQLite, the benchmarks' private Redis) is driven by ``bench.loadgen``: its
Python load generator, ``--clients`` keep-alive connections at once. wrk is not used: each
delivery must carry a signature over its own body, which is built and signed in advance here.

Every delivery is signed as the real one is (``x-xero-signature`` under the integration's
webhook key, ``intuit-signature`` under the verifier token), reports a change to a different
linked contact (so each is recorded, committed and handed to the broker: the full path, no
event "already covered"), and must be answered 200 with its event in the database. No worker
runs: the benchmark times the receipt alone. Reported: p50 and p99 of each endpoint, each p99
against its system's deadline.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from bench.common import Service, emit, flush_bench_redis
from bench.loadgen import LoadResult, client_capacity, run_load

XERO_DEADLINE_MS = 5000.0
INTUIT_DEADLINE_MS = 3000.0
WEBHOOK_KEY = "bench-xero-webhook-key-0123456789"
VERIFIER_TOKEN = "bench-intuit-verifier-token-0123456789"
XERO_TENANT = "6f1c1b7e-0d5a-4c6b-9c55-0a1b2c3d4e5f"
QUICKBOOKS_REALM = "9130350000000001"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ledger_receive")
    parser.add_argument("--deliveries", type=int, default=1500, help="per system")
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args(argv)
    flush_bench_redis()
    with Service(extra_env={"QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN": VERIFIER_TOKEN,
                            "LEDGER_POLL_INTERVAL_SECONDS": "0"}) as service:
        rt = service.runtime()
        xero_id = _integration(rt, "xero", {"tenant_id": XERO_TENANT}, {"webhook_key": WEBHOOK_KEY})
        quickbooks_id = _integration(rt, "quickbooks", {"realm_id": QUICKBOOKS_REALM}, {})
        xero_contacts = [str(uuid.uuid4()) for _ in range(args.deliveries)]
        quickbooks_contacts = [str(1000 + n) for n in range(args.deliveries)]
        _link(rt, xero_id, xero_contacts)
        _link(rt, quickbooks_id, quickbooks_contacts)
        service.start_web()
        xero_request = _xero_requests(xero_id, xero_contacts)
        intuit_request = _intuit_requests(quickbooks_contacts)
        _warm(service.port, xero_id, args.clients)
        before = _ledger_events(rt)
        xero = run_load(service.port, xero_request, total=args.deliveries, clients=args.clients)
        intuit = run_load(service.port, intuit_request, total=args.deliveries, clients=args.clients)
        recorded = _ledger_events(rt) - before
        capacity = client_capacity(xero_request, total=args.deliveries, clients=args.clients)
        rt.close()
    _report("Xero", xero, XERO_DEADLINE_MS, args.clients)
    _report("QuickBooks", intuit, INTUIT_DEADLINE_MS, args.clients)
    expected = 2 * args.deliveries
    print(f"events recorded: {recorded} of {expected} deliveries; load generator alone: "
          f"{capacity.rate:,.0f} requests/s (p99 {capacity.p(0.99):.1f} ms)", flush=True)
    emit("ledger webhooks: deliveries recorded", recorded, unit="events", target=f"= {expected}",
         met=recorded == expected and xero.statuses == {200: args.deliveries}
         and intuit.statuses == {200: args.deliveries},
         note=f"answers: Xero {xero.statuses}, QuickBooks {intuit.statuses}")


def _report(system: str, result: LoadResult, deadline_ms: float, clients: int) -> None:
    p50, p99, worst = result.p(0.5), result.p(0.99), max(result.latencies) * 1000
    print(f"{system}: {result.requests} deliveries in {result.seconds:.1f} s "
          f"({result.rate:,.0f}/s, {clients} at once): p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
          f"max {worst:.1f} ms; answers {result.statuses}", flush=True)
    emit(f"ledger webhook p50 ({system})", round(p50, 1), unit="ms", target="-")
    emit(f"ledger webhook p99 ({system})", round(p99, 1), unit="ms", target=f"<= {deadline_ms:.0f} ms",
         baseline=deadline_ms, baseline_label=f"{system}'s deadline", ratio=round(p99 / deadline_ms, 4),
         met=p99 <= deadline_ms and set(result.statuses) == {200},
         note=f"{clients} deliveries at once, {result.rate:,.0f}/s; max {worst:.0f} ms")


def _sign(key: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def _request(path: str, body: bytes, header: str, signature: str) -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"{header}: {signature}\r\nContent-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n")
    return head.encode() + body


def _stamp(n: int) -> datetime:
    # A distinct change stamp per delivery (a millisecond apart): each is a change of its own.
    return datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=n + 1)


def _xero_requests(integration_id: str, contacts: list[str]) -> Callable[[int], bytes]:
    def make(n: int) -> bytes:
        contact_id = contacts[n % len(contacts)]
        body = json.dumps({"events": [{
            "resourceUrl": f"https://api.xero.com/api.xro/2.0/Contacts/{contact_id}",
            "resourceId": contact_id, "eventDateUtc": _stamp(n).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
            "eventType": "UPDATE", "eventCategory": "CONTACT", "tenantId": XERO_TENANT,
            "tenantType": "ORGANISATION"}], "firstEventSequence": n + 1, "lastEventSequence": n + 1,
            "entropy": uuid.uuid4().hex[:20].upper()}).encode()
        return _request(f"/webhooks/xero/{integration_id}", body, "x-xero-signature", _sign(WEBHOOK_KEY, body))
    return make


def _intuit_requests(contacts: list[str]) -> Callable[[int], bytes]:
    def make(n: int) -> bytes:
        body = json.dumps({"eventNotifications": [{"realmId": QUICKBOOKS_REALM, "dataChangeEvent": {
            "entities": [{"name": "Customer", "id": contacts[n % len(contacts)], "operation": "Update",
                          "lastUpdated": _stamp(n).isoformat()}]}}]}).encode()
        return _request("/webhooks/quickbooks", body, "intuit-signature", _sign(VERIFIER_TOKEN, body))
    return make


def _warm(port: int, xero_id: str, clients: int) -> None:
    """Deliveries about contacts of no link (recorded ``skipped``, never sent to a worker), so
    that the web workers have loaded their code before the clock starts."""
    count = clients * 2
    run_load(port, _xero_requests(xero_id, [str(uuid.uuid4()) for _ in range(count)]), total=count, clients=clients)
    run_load(port, _intuit_requests([str(900000 + n) for n in range(count)]), total=count, clients=clients)


def _integration(rt: Any, kind: str, provider: dict[str, str], secrets: dict[str, str]) -> str:
    from core.store import integrations
    from core.store.integrations import NewIntegration

    integration, _ = integrations.create(rt.db, rt.vault, NewIntegration(
        name=f"bench ledger {kind}", provider_kind=kind, source_subdomain=f"b{uuid.uuid4().hex[:8]}",
        settings={"source": {"api_url": "http://127.0.0.1:9/api/v1"}, "provider": provider},
        secrets={"source_api_key": "k", "client_id": "bench", "client_secret": "bench", **secrets},
    ))
    return str(integration.id)


def _link(rt: Any, integration_id: str, contacts: list[str]) -> None:
    from sqlalchemy import insert

    from core.tables import Link, utcnow

    rows = [{"integration_id": integration_id, "organisation_id": n + 1, "organisation_name": f"Org {n}",
             "contact_id": contact_id, "contact_name": f"Contact {n}", "linked_at": utcnow(), "status": "ok"}
            for n, contact_id in enumerate(contacts)]
    with rt.db.engine.begin() as connection:
        connection.execute(insert(Link), rows)


def _ledger_events(rt: Any) -> int:
    from sqlalchemy import func, select

    from core.tables import Event

    with rt.db.reading() as session:
        return int(session.scalar(select(func.count()).select_from(Event).where(Event.source == "ledger")) or 0)


if __name__ == "__main__":
    main()
