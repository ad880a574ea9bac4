"""``/ops`` bulk section (interface §8): export and import jobs with their progress, the links
CSV downloaded and uploaded from a signed-in page, and every refusal shown as a message."""
from __future__ import annotations

import io
import re
from typing import Any

import pytest
import requests

from core.store import integrations, jobs, links
from tests.support import RunningWorker, create_integration, sample_member, seed_organisation, wait_for
from tests.webhooks.ops.test_ops_page import csrf_of, sign_in
from workers.bulk.jobs import run_job

CSV_HEADER = "Organisation ID,Name,Linked Xero contact"


@pytest.fixture
def integration(client: Any, admin: Any, sandbox: Any) -> dict[str, Any]:
    return create_integration(client, admin, sandbox, "xero")


def seed_organisations(sandbox: Any, integration: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """Organisations each with its own account number (Xero refuses a number used twice)."""
    membership = sample_member()["membership"]
    return [seed_organisation(sandbox, integration["subdomain"], name=f"Bulk Org {n}",
                              membership={**membership, "number": f"BULK-{n:03d}"})
            for n in range(1, count + 1)]


def page_of(client: Any, integration: dict[str, Any]) -> str:
    answer = client.get(f"/ops/integrations/{integration['id']}")
    assert answer.status_code == 200
    return answer.text


def job_row(html: str, job_id: str) -> str:
    match = re.search(rf'<tr class="row-[a-z]+" data-job-id="{job_id}">(.*?)</tr>', html, re.S)
    assert match, f"job {job_id} not listed"
    return match.group(1)


def upload(client: Any, integration: dict[str, Any], csrf: str | None, text: str, *, dry_run: bool = False) -> Any:
    data: dict[str, Any] = {"file": (io.BytesIO(text.encode("utf-8")), "links.csv", "text/csv")}
    if csrf is not None:
        data["csrf_token"] = csrf
    if dry_run:
        data["dry_run"] = "1"
    return client.post(f"/ops/integrations/{integration['id']}/links.csv", data=data,
                       content_type="multipart/form-data", follow_redirects=True)


def test_an_export_started_from_the_page_is_followed_to_its_end(client: Any, rt: Any, sandbox: Any, integration: Any) -> None:
    # Given three unlinked organisations and a signed-in operator
    seed_organisations(sandbox, integration, 3)
    csrf = sign_in(client)

    # When they start an export (no worker yet)
    started = client.post(f"/ops/integrations/{integration['id']}/export", data={"csrf_token": csrf},
                          follow_redirects=True)

    # Then the page says so, lists the job as queued and refreshes itself; so does the overview list it
    (job,) = jobs.recent(rt.db, integration_id=integration["id"])
    assert f"An export started (job {job.id})" in started.text
    html = page_of(client, integration)
    assert "badge-queued" in job_row(html, job.id) and "waiting for a worker" in job_row(html, job.id)
    assert '<meta http-equiv="refresh"' in html
    assert f'data-job-id="{job.id}"' in client.get("/ops").text

    # And a second export meanwhile is refused with a readable message naming the first
    again = client.post(f"/ops/integrations/{integration['id']}/export", data={"csrf_token": csrf},
                        follow_redirects=True)
    assert again.status_code == 200
    assert f"an export is already under way (job {job.id})" in again.text
    assert len(jobs.recent(rt.db, integration_id=integration["id"])) == 1

    # When a worker runs it
    with RunningWorker(rt):
        wait_for(lambda: jobs.get(rt.db, job.id).status == "succeeded", timeout=30)

    # Then the page shows it finished with its progress, and stops refreshing
    html = page_of(client, integration)
    row = job_row(html, job.id)
    assert "badge-succeeded" in row and "3 / 3 · 100%" in row and "created 3" in row
    assert '<progress class="bulk-bar" max="3" value="3">' in row
    assert '<meta http-equiv="refresh"' not in html
    assert len(links.all_of(rt.db, integration["id"])) == 3
    assert "Bulk jobs under way" not in client.get("/ops").text


def test_an_import_is_started_and_a_queued_job_cancelled(client: Any, rt: Any, integration: Any) -> None:
    csrf = sign_in(client)
    client.post(f"/ops/integrations/{integration['id']}/import", data={"csrf_token": csrf})
    (job,) = jobs.recent(rt.db, integration_id=integration["id"])
    assert job.kind == "import" and job.status == "queued"
    assert 'data-confirm="Cancel this import?' in page_of(client, integration)

    cancelled = client.post(f"/ops/jobs/{job.id}/cancel", data={"csrf_token": csrf}, follow_redirects=True)

    assert "Cancel asked" in cancelled.text
    assert jobs.get(rt.db, job.id).status == "cancelled"
    assert "badge-cancelled" in job_row(cancelled.text, job.id)
    assert '<meta http-equiv="refresh"' not in cancelled.text


def test_an_integration_to_reconnect_starts_nothing_and_says_why(client: Any, rt: Any, integration: Any) -> None:
    integrations.update(rt.db, integration["id"], status="reconnect_needed")
    csrf = sign_in(client)
    answer = client.post(f"/ops/integrations/{integration['id']}/export", data={"csrf_token": csrf},
                         follow_redirects=True)
    assert answer.status_code == 200
    assert "Not started: the integration is reconnect_needed." in answer.text
    assert jobs.recent(rt.db, integration_id=integration["id"]) == []


def test_download_streams_the_same_csv_as_the_api(client: Any, admin: Any, rt: Any, sandbox: Any, integration: Any) -> None:
    organisations = seed_organisations(sandbox, integration, 2)
    sign_in(client)

    download = client.get(f"/ops/integrations/{integration['id']}/links.csv")

    assert download.status_code == 200
    assert download.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert download.headers["Content-Disposition"] == f'attachment; filename="links-{integration["id"]}.csv"'
    text = download.data.decode("utf-8")
    assert text.startswith("\ufeff" + CSV_HEADER + "\r\n")
    assert all(f"{o['id']},{o['name']}," in text for o in organisations)
    assert download.data == client.get(f"/api/integrations/{integration['id']}/links.csv", headers=admin).data
    assert 'href="/ops/integrations/{}/links.csv"'.format(integration["id"]) in page_of(client, integration)


def test_upload_applies_good_rows_and_shows_each_bad_rows_error(client: Any, rt: Any, sandbox: Any, integration: Any) -> None:
    # Given a Xero contact and a CSV with one good row and one malformed contact id
    contact = sandbox.control("xero", "contacts", tenant=integration["tenant"], contact={"Name": "Good Ltd"})
    text = f"{CSV_HEADER}\r\n501,Good Ltd,{contact['ContactID']}\r\n502,Bad Ltd,not-a-guid\r\n503,Empty Ltd,\r\n"
    csrf = sign_in(client)

    # When it is uploaded as a dry run, then for real
    dry = upload(client, integration, csrf, text, dry_run=True)
    assert links.get(rt.db, integration["id"], 501) is None
    real = upload(client, integration, csrf, text)

    # Then both pages count the rows and name row 2's error; only the real one linked
    for answer, heading in ((dry, "dry run: nothing changed"), (real, "Links CSV applied")):
        assert answer.status_code == 200 and heading in answer.text
        assert 'id="csv-linked">1<' in answer.text and 'id="csv-skipped">1<' in answer.text
        assert re.search(r'<td class="num mono">2</td><td>malformed contact id &#39;not-a-guid&#39;', answer.text)
    assert links.get(rt.db, integration["id"], 501).contact_id == contact["ContactID"]
    again = upload(client, integration, csrf, text)
    assert 'id="csv-unchanged">1<' in again.text and 'id="csv-linked">0<' in again.text


def test_more_than_500_rows_become_a_job_listed_with_its_first_errors(client: Any, rt: Any, integration: Any) -> None:
    # Given a CSV of 501 rows, each with a malformed contact id
    text = CSV_HEADER + "\r\n" + "".join(f"{n},Org {n},x{n}\r\n" for n in range(1, 502))
    csrf = sign_in(client)

    # When it is uploaded, a job takes it; when the job runs, the page shows its errors
    answer = upload(client, integration, csrf, text)
    (job,) = jobs.recent(rt.db, integration_id=integration["id"])
    assert job.kind == "links_csv" and f"501 rows are more than 500: job {job.id}" in answer.text
    assert run_job(rt, job.id) == "succeeded"

    row = job_row(page_of(client, integration), job.id)
    assert "links CSV" in row and "501 / 501" in row
    assert "row 1</span>: malformed contact id &#39;x1&#39;" in row and "and 498 more" in row


def test_unreadable_or_oversized_uploads_are_refused_with_a_message(client: Any, rt: Any, integration: Any) -> None:
    csrf = sign_in(client)
    no_column = upload(client, integration, csrf, "Organisation ID,Name\r\n1,A\r\n")
    assert no_column.status_code == 200
    assert "Links CSV not taken: no &#39;Linked Xero contact&#39; column." in no_column.text
    huge = upload(client, integration, csrf, "x" * (5 * 1024 * 1024 + 100 * 1024))
    assert huge.status_code == 413 and "at most 5 MiB" in huge.text


def test_forms_need_their_csrf_token_and_a_signed_in_session(client: Any, app: Any, rt: Any, integration: Any) -> None:
    base = f"/ops/integrations/{integration['id']}"
    csrf = sign_in(client)
    client.post(f"{base}/import", data={"csrf_token": csrf})
    (job,) = jobs.recent(rt.db, integration_id=integration["id"])

    # Without the token (or with another) each bulk form is refused and changes nothing
    for path in (f"{base}/export", f"{base}/import", f"/ops/jobs/{job.id}/cancel"):
        for data in ({}, {"csrf_token": "forged"}):
            assert client.post(path, data=data).status_code == 400, path
    assert upload(client, integration, None, f"{CSV_HEADER}\r\n1,A,\r\n").status_code == 400
    assert [j.status for j in jobs.recent(rt.db, integration_id=integration["id"])] == ["queued"]

    # And a browser not signed in gets the sign-in form, even for the download
    stranger = app.test_client()
    assert stranger.get(f"{base}/links.csv").status_code == 401
    assert stranger.post(f"{base}/export", data={"csrf_token": csrf}).status_code == 401
    assert 'name="token"' in stranger.get(f"{base}/links.csv").text
    assert csrf_of(client.get(base).text) == csrf


@pytest.mark.browser
def test_in_a_browser_an_export_is_confirmed_and_followed_until_it_succeeds(
    browser_page: Any, served: str, rt: Any, sandbox: Any, integration: Any,
) -> None:
    from tests.browser.test_ops_browser import ARTIFACTS
    from tests.conftest import ADMIN_TOKEN

    page = browser_page
    seed_organisations(sandbox, integration, 4)
    confirms: list[str] = []
    page.on("dialog", lambda dialog: confirms.append(dialog.message))
    page.goto(f"{served}/ops/integrations/{integration['id']}")
    page.fill("#token", ADMIN_TOKEN)
    page.click("button:has-text('Sign in')")

    with RunningWorker(rt):
        # When the operator presses "Export organisations" and confirms
        page.click("button:has-text('Export organisations')")
        # Then the page refreshes itself until the job has succeeded
        page.wait_for_selector("table.jobs .badge-succeeded", timeout=30_000)

    assert confirms and confirms[0].startswith("Export organisations:")
    assert "4 / 4" in page.inner_text("table.jobs")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ops_bulk_export.png"), full_page=True)
    assert page.script_errors == []


def test_a_download_the_rental_system_refuses_is_a_readable_page(client: Any, sandbox: Any, integration: Any) -> None:
    # Given Current RMS refuses the API key
    requests.post(f"{sandbox.current_rms}/_sandbox/faults", timeout=5,
                  json={"path": "/members", "status": 401, "times": 5}).raise_for_status()
    sign_in(client)
    # When the links CSV is asked for, then the page says why instead of a JSON error
    answer = client.get(f"/ops/integrations/{integration['id']}/links.csv")
    assert answer.status_code == 409
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "Current RMS refused the API key: reconnect it" in answer.text
