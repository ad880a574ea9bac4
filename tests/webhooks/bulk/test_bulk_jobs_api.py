"""Export and import jobs over the API and the CLI (interface §7)."""
from __future__ import annotations

from typing import Any

import pytest

from core.store import links
from tests.support import create_integration, running_worker, wait_for


@pytest.fixture
def worker(rt: Any) -> Any:
    yield from running_worker(rt)


def job_of(client: Any, admin: dict[str, str], job_id: str) -> dict[str, Any]:
    return client.get(f"/api/jobs/{job_id}", headers=admin).get_json()


def test_an_export_started_over_the_api_runs_on_the_bulk_queue(rt, client, admin, sandbox, worker):
    # Given 30 organisations
    integration = create_integration(client, admin, sandbox, "xero")
    sandbox.control("current_rms", "members/bulk", subdomain=integration["subdomain"], count=30)
    # When an export is started
    started = client.post(f"/api/integrations/{integration['id']}/export", headers=admin)
    # Then it answers 202 with a job that a worker runs to its end
    assert started.status_code == 202
    job_id = started.get_json()["job_id"]
    job = wait_for(lambda: (j := job_of(client, admin, job_id))["status"] == "succeeded" and j)
    assert (job["kind"], job["total"], job["done"], job["failed"], job["errors"]) == (
        "export", 30, 30, 0, [])
    assert len(links.all_of(rt.db, integration["id"])) == 30
    listed = client.get(f"/api/jobs?integration_id={integration['id']}", headers=admin).get_json()
    assert [j["id"] for j in listed["jobs"]] == [job_id]


def test_a_second_export_while_one_is_queued_is_409_and_cancel_stops_it(rt, client, admin, sandbox):
    # Given an export queued (no worker runs here)
    integration = create_integration(client, admin, sandbox, "xero")
    first = client.post(f"/api/integrations/{integration['id']}/export", headers=admin).get_json()
    # When another is asked for, then the first is cancelled
    second = client.post(f"/api/integrations/{integration['id']}/export", headers=admin)
    cancel = client.post(f"/api/jobs/{first['job_id']}/cancel", headers=admin)
    # Then the second is refused naming the first, and the first is cancelled at once
    assert second.status_code == 409 and second.get_json()["job_id"] == first["job_id"]
    assert cancel.status_code == 202
    assert job_of(client, admin, first["job_id"])["status"] == "cancelled"
    again = client.post(f"/api/integrations/{integration['id']}/import", headers=admin)
    assert again.status_code == 202


def test_bad_requests_are_refused(client, admin, sandbox):
    integration = create_integration(client, admin, sandbox, "xero")
    bad_size = client.post(f"/api/integrations/{integration['id']}/export", headers=admin,
                           json={"batch_size": 0})
    assert bad_size.status_code == 400 and "batch_size" in bad_size.get_json()["fields"]
    assert client.get("/api/jobs/nope", headers=admin).status_code == 404
    assert client.post("/api/jobs/nope/cancel", headers=admin).status_code == 404
    assert client.get("/api/jobs/nope").status_code == 401


def test_the_cli_runs_an_export_with_a_progress_bar_and_writes_the_csv(rt, app, client, admin, sandbox, tmp_path):
    # Given 12 organisations
    integration = create_integration(client, admin, sandbox, "xero")
    sandbox.control("current_rms", "members/bulk", subdomain=integration["subdomain"], count=12)
    runner = app.test_cli_runner()
    # When `flask bulk export --here` runs, then `flask links export`
    exported = runner.invoke(args=["bulk", "export", integration["id"], "--here", "--batch-size", "5"])
    written = tmp_path / "links.csv"
    listed = runner.invoke(args=["links", "export", integration["id"], "-o", str(written)])
    # Then the export succeeded in three batches and the CSV names every contact
    assert exported.exit_code == 0, exported.output
    assert '"status": "succeeded"' in exported.output and "12/12" in exported.output
    assert len([c for c in sandbox.calls("xero") if c["method"] == "PUT"]) == 3
    assert listed.exit_code == 0, listed.output
    lines = written.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "Organisation ID,Name,Linked Xero contact"
    assert len(lines) == 13 and all(line.split(",")[2] for line in lines[1:])


def test_the_cli_imports_a_links_csv(rt, app, client, admin, sandbox, tmp_path):
    integration = create_integration(client, admin, sandbox, "xero")
    contact = sandbox.control("xero", "contacts", tenant=integration["tenant"], contact={"Name": "Cli"})
    path = tmp_path / "in.csv"
    path.write_text(f"ID,Linked Xero contact\n42,{contact['ContactID']}\n43,bad\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["links", "import", integration["id"], str(path)])
    assert result.exit_code == 0, result.output
    assert '"linked": 1' in result.output and '"row": 2' in result.output
    assert links.get(rt.db, integration["id"], 42).contact_id == contact["ContactID"]
