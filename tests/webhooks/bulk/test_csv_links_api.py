"""The links CSV over the API (interface §7): the export's shape, every kind of bad row, limits."""
from __future__ import annotations

import io
import uuid
from typing import Any

from core.models import Contact
from core.store import links
from core.store.links import LinkWrite
from tests.support import create_integration
from tests.workers.bulk.bulk_support import organisation
from workers.bulk.jobs import run_job

BOM = "\ufeff"


def csv_url(integration: dict[str, Any], dry_run: bool = False) -> str:
    return f"/api/integrations/{integration['id']}/links.csv" + ("?dry_run=1" if dry_run else "")


def post_csv(client: Any, admin: dict[str, str], integration: dict[str, Any], text: str,
             *, dry_run: bool = False) -> Any:
    return client.post(csv_url(integration, dry_run), data=text.encode("utf-8"),
                       headers={**admin, "Content-Type": "text/csv"})


def xero_contact(sandbox: Any, integration: dict[str, Any], name: str) -> str:
    return sandbox.control("xero", "contacts", tenant=integration["tenant"],
                           contact={"Name": name})["ContactID"]


def test_export_is_bom_crlf_with_every_active_organisation_and_its_link(rt, client, admin, sandbox):
    # Given a linked organisation, an unlinked one named like a formula, and an inactive one
    integration = create_integration(client, admin, sandbox, "xero")
    linked = organisation(sandbox, integration["subdomain"], "Linked Ltd")
    formula = organisation(sandbox, integration["subdomain"], "=HYPERLINK(\"x\")")
    organisation(sandbox, integration["subdomain"], "Gone Ltd")
    gone = next(m for m in sandbox.get("current_rms", "members", subdomain=integration["subdomain"])
                ["members"] if m["name"] == "Gone Ltd")
    sandbox.control("current_rms", f"members/{gone['id']}/edit", subdomain=integration["subdomain"],
                    changes={"active": False})
    contact_id = xero_contact(sandbox, integration, "Linked Ltd")
    links.save(rt.db, LinkWrite(integration["id"], linked["id"], "Linked Ltd",
                                Contact(id=contact_id, name="Linked Ltd"), None))
    # When the CSV is downloaded
    response = client.get(csv_url(integration), headers=admin)
    # Then it is UTF-8 with a BOM, CRLF, one row per active organisation, formulas defused
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    text = response.data.decode("utf-8")
    assert text.startswith(BOM + "Organisation ID,Name,Linked Xero contact\r\n")
    lines = text[1:].split("\r\n")
    assert lines[-1] == "" and len(lines) == 4
    assert f"{linked['id']},Linked Ltd,{contact_id}" in lines
    assert f"{formula['id']},\"'=HYPERLINK(\"\"x\"\")\"," in lines


def test_every_kind_of_bad_row_is_reported_and_the_good_rows_applied(rt, client, admin, sandbox):
    # Given two existing contacts, one already linked elsewhere, and a CSV with every kind of row
    integration = create_integration(client, admin, sandbox, "xero")
    good = xero_contact(sandbox, integration, "Good Contact")
    twice = xero_contact(sandbox, integration, "Named Twice")
    taken = xero_contact(sandbox, integration, "Taken Contact")
    links.save(rt.db, LinkWrite(integration["id"], 900, "Holder", Contact(id=taken, name="Taken"), None))
    unknown = str(uuid.uuid4())
    rows = [
        ("101", "Good Org", good.upper()),       # 1 valid (ids are case-insensitive)
        ("abc", "Bad Org Id", good),             # 2 malformed organisation id
        ("102", "Bad Contact Id", "58"),         # 3 malformed contact id
        ("103", "Unknown", unknown),             # 4 no such contact
        ("104", "Org Twice A", str(uuid.uuid4())),  # 5 organisation named twice...
        ("104", "Org Twice B", str(uuid.uuid4())),  # 6 ...both rows
        ("105", "Contact Twice A", twice),       # 7 contact named for two organisations...
        ("106", "Contact Twice B", twice),       # 8 ...both rows
        ("107", "Takes Linked", taken),          # 9 contact linked to organisation 900
        ("108", "No Link", ""),                  # 10 empty cell: skipped
    ]
    body = "\ufeffId;Name;Extra;Linked Xero contact\r\n" + "".join(
        f"{o};{n};ignored;{c}\r\n" for o, n, c in rows)
    # When it is checked with dry_run, then applied
    dry = post_csv(client, admin, integration, body, dry_run=True)
    assert dry.status_code == 200
    assert links.get(rt.db, integration["id"], 101) is None
    applied = post_csv(client, admin, integration, body)
    # Then both answers agree; only row 1 is linked; each bad row carries its number and reason
    assert dry.get_json() == applied.get_json()
    answer = applied.get_json()
    assert (answer["linked"], answer["unchanged"], answer["skipped"]) == (1, 0, 1)
    errors = {e["row"]: e["error"] for e in answer["errors"]}
    assert sorted(errors) == [2, 3, 4, 5, 6, 7, 8, 9]
    assert "malformed organisation id" in errors[2]
    assert "malformed contact id" in errors[3] and "GUID" in errors[3]
    assert "no active contact" in errors[4]
    assert "rows 5, 6" in errors[5] and "rows 5, 6" in errors[6]
    assert "rows 7, 8" in errors[7] and "rows 7, 8" in errors[8]
    assert "already linked to organisation 900" in errors[9]
    link = links.get(rt.db, integration["id"], 101)
    assert link.contact_id == good and link.organisation_name == "Good Org"
    assert links.by_contact(rt.db, integration["id"], twice) is None
    # And sending it again counts row 1 as unchanged
    assert post_csv(client, admin, integration, body).get_json()["unchanged"] == 1


def test_existence_is_checked_in_batches_not_one_call_per_row(rt, client, admin, sandbox):
    # Given 120 rows naming existing contacts
    integration = create_integration(client, admin, sandbox, "xero")
    ids = [xero_contact(sandbox, integration, f"Batch {n}") for n in range(120)]
    body = "Organisation ID,Linked Xero contact\n" + "".join(
        f"{1000 + n},{cid}\n" for n, cid in enumerate(ids))
    before = len(sandbox.calls("xero"))
    # When they are imported
    answer = post_csv(client, admin, integration, body).get_json()
    # Then three reads of 50 ids at most checked them all
    assert answer["linked"] == 120 and answer["errors"] == []
    reads = [c for c in sandbox.calls("xero")[before:] if c["path"].endswith("/Contacts")]
    assert len(reads) == 3


def test_quickbooks_and_sage_ids_are_checked_in_their_own_shapes(rt, client, admin, sandbox):
    # Given a QuickBooks integration and a Sage one
    quickbooks = create_integration(client, admin, sandbox, "quickbooks")
    sage = create_integration(client, admin, sandbox, "sage")
    # When each gets an id in the other's shape
    qb = post_csv(client, admin, quickbooks,
                  "ID,Linked QuickBooks customer\n1,B5B40C60-F4A4-4D32-B3F4-8CD54787DAED\n")
    sg = post_csv(client, admin, sage, "ID,Linked Sage contact\n1,58\n")
    # Then the row is refused as malformed, naming the expected shape
    assert "whole number" in qb.get_json()["errors"][0]["error"]
    assert "32 hexadecimal" in sg.get_json()["errors"][0]["error"]


def test_a_file_without_the_columns_is_refused(client, admin, sandbox):
    integration = create_integration(client, admin, sandbox, "xero")
    no_id = post_csv(client, admin, integration, "Name,Linked Xero contact\nA,x\n")
    no_link = post_csv(client, admin, integration, "ID,Name\n1,A\n")
    assert no_id.status_code == 400 and "id column" in no_id.get_json()["error"]
    assert no_link.status_code == 400 and "Linked Xero contact" in no_link.get_json()["error"]


def test_more_than_10000_rows_or_5_mib_is_413(client, admin, sandbox):
    integration = create_integration(client, admin, sandbox, "xero")
    too_many = "ID,Linked Xero contact\n" + "1,\n" * 10_001
    too_big = "ID,Linked Xero contact,Pad\n" + ("1,," + "x" * 1000 + "\n") * 5300
    assert post_csv(client, admin, integration, too_many).status_code == 413
    assert post_csv(client, admin, integration, too_big).status_code == 413
    exactly = "ID,Linked Xero contact\n" + "1,\n" * 10_000
    assert post_csv(client, admin, integration, exactly).status_code == 202


def test_a_multipart_upload_is_accepted(rt, client, admin, sandbox):
    integration = create_integration(client, admin, sandbox, "xero")
    contact_id = xero_contact(sandbox, integration, "Uploaded")
    data = {"file": (io.BytesIO(f"Organisation ID,Linked Xero contact\n77,{contact_id}\n".encode()), "links.csv")}
    response = client.post(csv_url(integration), data=data, headers=admin,
                            content_type="multipart/form-data")
    assert response.status_code == 200 and response.get_json()["linked"] == 1
    assert links.get(rt.db, integration["id"], 77).contact_id == contact_id


def test_more_than_500_rows_become_a_job_with_the_same_counts(rt, client, admin, sandbox):
    # Given 600 rows: 550 valid, 50 malformed
    integration = create_integration(client, admin, sandbox, "xero")
    ids = [xero_contact(sandbox, integration, f"Job {n}") for n in range(550)]
    body = "ID,Linked Xero contact\n" + "".join(f"{5000 + n},{c}\n" for n, c in enumerate(ids))
    body += "".join(f"{9000 + n},not-a-guid\n" for n in range(50))
    # When it is posted
    response = post_csv(client, admin, integration, body)
    # Then a job answers, and running it links the valid rows and reports the others
    assert response.status_code == 202
    job_id = response.get_json()["job_id"]
    run_job(rt, job_id)
    job = client.get(f"/api/jobs/{job_id}", headers=admin).get_json()
    assert (job["status"], job["total"], job["done"], job["failed"]) == ("succeeded", 600, 550, 50)
    assert job["summary"]["linked"] == 550
    assert {e["row"] for e in job["errors"]} == set(range(551, 601))
    assert len(links.all_of(rt.db, integration["id"])) == 550
