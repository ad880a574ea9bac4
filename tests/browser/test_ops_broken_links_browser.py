"""Issue 14's ops part in headless Chromium: the operator finds the link the ledger marked
broken (its Xero contact archived), picks another contact with the auto-suggest in the broken
link's own row, relinks, and the broken list is gone. Screenshots land in
tests/browser/artifacts/ (gitignored)."""
from __future__ import annotations

from typing import Any

import pytest

from core.store import links
from tests.browser.test_ops_browser import ARTIFACTS, browser_page, served  # noqa: F401 - fixtures
from tests.conftest import ADMIN_TOKEN
from tests.ledger.support import linked, wait_ledger_event, xero_delivery
from tests.support import RunningWorker, wait_for


@pytest.mark.browser
def test_an_operator_relinks_a_broken_link(browser_page: Any, served: str, client: Any, admin: Any,  # noqa: F811
                                           rt: Any, sandbox: Any) -> None:
    page = browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    with RunningWorker(rt, threads=2):
        # Given a linked organisation whose Xero contact a person archived (policy: flag)
        integration = linked(client, admin, sandbox, "xero")
        old, org = integration["contact_id"], integration["organisation"]["id"]
        sandbox.control("xero", "archive", tenant=integration["tenant"], contact_id=old)
        xero_delivery(client, integration, [old])
        assert wait_ledger_event(client, admin, integration, old)["outcome"]["action"] == "broken"
        other = sandbox.control("xero", "contacts", tenant=integration["tenant"],
                                contact={"Name": "Lighthouse Events Ltd", "EmailAddress": "ap@lighthouse.example"})

        # When the operator signs in and finds it listed as broken, with the reason
        page.goto(f"{served}/ops/integrations/{integration['id']}")
        page.fill("#token", ADMIN_TOKEN)
        page.click("button:has-text('Sign in')")
        page.wait_for_selector("#broken-links")
        row = page.locator(f"#broken-links tr[data-organisation='{org}']")
        assert "archived in the accounting system" in row.inner_text()
        for action in ("Relink", "Reactivate", "Recreate", "Unlink"):
            assert row.locator(f"button:has-text('{action}')").count() == 1

        # And picks another contact with the auto-suggest of that row, and relinks
        row.locator("input[name=contact_query]").type("lighth", delay=30)
        row.locator(".suggestions li:has-text('Lighthouse Events Ltd')").wait_for()
        page.screenshot(path=str(ARTIFACTS / "ops_broken_link_suggest.png"), full_page=True)
        row.locator(".suggestions li:has-text('Lighthouse Events Ltd')").click()
        assert row.locator(f"#relink-{org}").input_value() == other["ContactID"]
        row.locator("button:has-text('Relink')").click()
        page.wait_for_selector(".flash-ok")

        # Then the link names the new contact, is ok, and the broken list is gone
        link = wait_for(lambda: (found := links.get(rt.db, integration["id"], org)).contact_id
                        == other["ContactID"] and found)
        assert link.status == "ok" and link.broken_reason is None
        assert page.locator("#broken-links").count() == 0
        page.screenshot(path=str(ARTIFACTS / "ops_broken_link_relinked.png"), full_page=True)
    assert page.script_errors == []
