"""Test helpers: integrations wired to the sandbox, sample organisations, a worker, waiting."""
from __future__ import annotations

import copy
import itertools
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

from dramatiq import Worker

#: The project's own sample payloads (Current RMS shapes) and the official specs it checks
#: bodies against; ``tests/specs/PROVENANCE.md`` says where each spec comes from.
SAMPLES = Path(__file__).resolve().parent / "fixtures"
SPECS = Path(__file__).resolve().parent / "specs"
_action_ids = itertools.count(int(time.time() * 1000))

#: Where each stand-in serves its API and token endpoint (interface §9 base paths).
PROVIDER_PATHS = {
    "xero": ("/api.xro/2.0", "/connect/token", "tenant_id"),
    "quickbooks": ("/v3", "/oauth2/v1/tokens/bearer", "realm_id"),
    "sage": ("/v3.1", "/token", "business_id"),
}


def sample_member() -> dict[str, Any]:
    return json.loads((SAMPLES / "member_organisation.json").read_text())["member"]


def seed_organisation(sandbox: Any, subdomain: str, **changes: Any) -> dict[str, Any]:
    """A member shaped like the reference sample, stored in the sandbox rental system."""
    member = copy.deepcopy(sample_member())
    for key in ("id", "created_at", "updated_at"):  # the sandbox stamps them now
        member.pop(key, None)
    member["name"] = changes.pop("name", f"Org {uuid.uuid4().hex[:8]}")
    member.update(changes)
    return sandbox.control("current_rms", "members", subdomain=subdomain, member=member)["member"]


def edit_organisation(sandbox: Any, subdomain: str, member_id: int, changes: dict[str, Any]) -> None:
    """Edit as a person would in the web UI; the sandbox fires member_update if registered."""
    sandbox.control("current_rms", f"members/{member_id}/edit", subdomain=subdomain, changes=changes)


def integration_body(
    sandbox: Any, kind: str = "xero", *, client_id: str = "client", client_secret: str = "secret",
    api_key: str | None = None, policies: dict[str, Any] | None = None, **extra: Any,
) -> dict[str, Any]:
    """A ``POST /api/integrations`` body whose both ends are the sandbox (tokens as after
    consent); the rental-system account and the provider's tokens are made in the sandbox."""
    subdomain = f"acme{uuid.uuid4().hex[:8]}"
    api_key = api_key or f"key-{uuid.uuid4().hex}"
    sandbox.control("current_rms", "accounts", subdomain=subdomain, api_key=api_key)
    tokens = sandbox.control(kind, "tokens")
    api_path, token_path, tenant_key = PROVIDER_PATHS[kind]
    base = getattr(sandbox, kind)
    return {
        "name": f"Acme to {kind}",
        "source": {"subdomain": subdomain, "api_key": api_key,
                   "api_url": f"{sandbox.current_rms}/api/v1", **extra.pop("source", {})},
        "provider": {
            "kind": kind, tenant_key: tokens["tenant"], "client_id": client_id, "client_secret": client_secret,
            "access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
            "expires_at": _in_seconds(tokens.get("expires_in", 1800)),
            "api_url": f"{base}{api_path}", "token_url": f"{base}{token_path}",
        },
        "policies": policies or {},
        **extra,
    }


def create_integration(
    client: Any, admin: dict[str, str], sandbox: Any, kind: str = "xero", *,
    policies: dict[str, Any] | None = None, expect: int = 201, **extra: Any,
) -> dict[str, Any]:
    """An integration of ``kind`` created through the API, both ends in the sandbox."""
    body = integration_body(sandbox, kind, policies=policies, **extra)
    response = client.post("/api/integrations", json=body, headers=admin)
    assert response.status_code == expect, response.get_json()
    created = response.get_json()
    created.update(subdomain=body["source"]["subdomain"], api_key=body["source"]["api_key"],
                   tenant=body["provider"][PROVIDER_PATHS[kind][2]])
    return created


def _in_seconds(seconds: float) -> str:
    from datetime import datetime, timedelta, timezone

    return (datetime.now(timezone.utc) + timedelta(seconds=float(seconds))).isoformat()


def webhook_path(integration: dict[str, Any]) -> str:
    url = integration["webhook_url"]
    return url[url.index("/webhooks/"):]


def send_webhook(
    client: Any, integration: dict[str, Any], member_id: int, action_type: str = "update",
    action_id: int | None = None,
) -> Any:
    body = {"action": {"id": action_id or next(_action_ids), "subject_id": member_id,
                       "subject_type": "Member", "action_type": action_type}}
    return client.post(webhook_path(integration), json=body)


def wait_for(
    predicate: Callable[[], Any], *, timeout: float = 15.0, interval: float = 0.05, what: str = "",
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with the last value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}; last value: {value!r}")


def event_status(client: Any, admin: dict[str, str], event_id: str) -> dict[str, Any]:
    return client.get(f"/api/events/{event_id}", headers=admin).get_json()


def wait_event(client: Any, admin: dict[str, str], event_id: str, *statuses: str, timeout: float = 15.0) -> dict[str, Any]:
    wanted = statuses or ("succeeded", "skipped", "failed")
    return wait_for(
        lambda: (e := event_status(client, admin, event_id))["status"] in wanted and e, timeout=timeout
    )


class RunningWorker:
    """A Dramatiq worker in the test process plus the outbox relay ticking beside it."""

    def __init__(self, rt: Any, *, threads: int = 4, relay_interval: float = 0.1) -> None:
        import workers.actors  # noqa: F401 - declares the actors on the broker
        from workers.broker import broker

        self.rt = rt
        self.worker = Worker(broker, worker_threads=threads, worker_timeout=50)
        self._stop = threading.Event()
        self._relay = threading.Thread(target=self._relay_loop, args=(relay_interval,), daemon=True)

    def _relay_loop(self, interval: float) -> None:
        from workers.outbox import relay_once

        while not self._stop.wait(interval):
            try:
                relay_once(self.rt)
            except Exception:  # Redis stopped by a test: the next tick tries again
                pass

    def __enter__(self) -> "RunningWorker":
        self.worker.start()
        self._relay.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._relay.join(timeout=5)
        self.worker.stop()


def running_worker(rt: Any, **options: Any) -> Iterator[RunningWorker]:
    with RunningWorker(rt, **options) as worker:
        yield worker
