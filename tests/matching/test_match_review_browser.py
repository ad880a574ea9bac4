"""The match review on the ops page in a real browser (headless Chromium, Playwright) against
the service over real HTTP, with a worker and the sandbox: start a review, read it, confirm all
full matches, pick one partial by hand."""
from __future__ import annotations

from typing import Any

import pytest

from core.store import links
from tests.browser.test_ops_browser import ARTIFACTS, browser_page, served  # noqa: F401 - fixtures
from tests.conftest import ADMIN_TOKEN
from tests.matching.matching_support import seed_contact, seed_org
from tests.support import RunningWorker, create_integration, wait_for


@pytest.mark.browser
def test_review_confirm_all_full_and_pick_one_partial(
    browser_page: Any, served: str, client: Any, admin: Any, rt: Any, sandbox: Any,  # noqa: F811
) -> None:
    page = browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    # Given a Xero ledger with one full, one partial (two candidates) and no match
    integration = create_integration(client, admin, sandbox, "xero", policies={"match_on": ["name", "email"]})
    iid, tenant, sub = integration["id"], integration["tenant"], integration["subdomain"]
    full_contact = seed_contact(sandbox, "xero", tenant, "Harbour Lights Ltd", "ap@harbour.example")
    twin_a = seed_contact(sandbox, "xero", tenant, "Tide Co North", "ap@tide.example")
    seed_contact(sandbox, "xero", tenant, "Tide Co South", "ap@tide.example")
    full_org = seed_org(sandbox, sub, "Harbour Lights Ltd", "ap@harbour.example")
    tide_org = seed_org(sandbox, sub, "Tide Co", "ap@tide.example")
    seed_org(sandbox, sub, "Nobody Ltd", "ap@nobody.example")

    with RunningWorker(rt):
        # When the operator signs in on the integration's page and opens the review
        page.goto(f"{served}/ops/integrations/{iid}")
        page.fill("#token", ADMIN_TOKEN)
        page.click("button:has-text('Sign in')")
        page.click("a:has-text('Match review')")
        # And starts a review; the page follows it until it is done
        page.click("#start-review")
        page.wait_for_selector("#review-job .badge-succeeded", timeout=20_000)
        # Then the results are grouped, with candidates, what they matched on and web links
        assert "Full 1" in page.inner_text("#match-kinds") and "Partial 1" in page.inner_text("#match-kinds")
        assert "None 1" in page.inner_text("#match-kinds")
        full_row = page.locator(f'tr[data-organisation-id="{full_org}"]')
        assert "matched on name, email" in full_row.inner_text()
        assert full_row.locator("a").get_attribute("href").startswith("https://go.xero.com/")
        page.screenshot(path=str(ARTIFACTS / "ops_match_review.png"), full_page=True)
        # And the CSV is offered
        with page.expect_download() as download:
            page.click("#download-matches")
        assert download.value.suggested_filename == f"matches-{iid}.csv"

        # When all full matches are confirmed
        page.click("#confirm-all-full")
        page.wait_for_selector(".flash-ok:has-text('Linked 1')")
        # And one partial is picked by hand
        page.click("#match-kinds a[data-kind=partial]")
        tide_row = page.locator(f'tr[data-organisation-id="{tide_org}"]')
        assert "matched on email" in tide_row.inner_text()
        tide_row.locator(f'input[value="{twin_a}"]').check()
        tide_row.locator("button:has-text('Link')").click()
        page.wait_for_selector(".flash-ok:has-text('Linked 1')")
        page.screenshot(path=str(ARTIFACTS / "ops_match_confirmed.png"), full_page=True)

        # Then both are linked and synced
        linked = {link.organisation_id: link.contact_id for link in links.all_of(rt.db, iid)}
        assert linked == {full_org: full_contact, tide_org: twin_a}
        wait_for(lambda: all(e["status"] == "succeeded" for e in client.get(
            f"/api/events?integration={iid}", headers=admin).get_json()["events"]), what="the syncs")
    assert page.script_errors == []
