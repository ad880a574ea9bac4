"""Helpers of the bulk suites: a runtime-level handle on jobs, counts of sandbox calls."""
from __future__ import annotations

from typing import Any

from core.store import integrations, jobs
from core.tables import Job
from workers.bulk.jobs import run_job


def run_now(rt: Any, integration_id: str, kind: str, **state: Any) -> Job:
    """Create a job and run it in this process to its end; the finished row."""
    job = jobs.create(rt.db, integration_id, kind, state=state)
    run_job(rt, job.id)
    finished = jobs.get(rt.db, job.id)
    assert finished is not None
    return finished


def xero_contacts(sandbox: Any, tenant: str) -> list[dict[str, Any]]:
    return sandbox.get("xero", "contacts", tenant=tenant)["Contacts"]


def writes(sandbox: Any, system: str, path_part: str = "") -> list[dict[str, Any]]:
    return [c for c in sandbox.calls(system)
            if c["method"] in ("POST", "PUT", "DELETE") and path_part in c["path"]]


def integration_row(rt: Any, integration_id: str) -> Any:
    return integrations.get(rt.db, integration_id)


def organisation(sandbox: Any, subdomain: str, name: str) -> dict[str, Any]:
    """A sample organisation with its own account number (a shared one would clash)."""
    from tests.support import seed_organisation

    number = f"N-{abs(hash(name)) % 10**8:08d}"
    return seed_organisation(sandbox, subdomain, name=name,
                             membership={"number": number, "tax_number": "GB123456789"})
