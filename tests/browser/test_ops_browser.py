"""The ops page in a real browser: headless Chromium (Debian's package, driven by Playwright)
against the service over real HTTP, with a worker and the sandbox. An operator signs in,
finds the contact Xero refused, fixes the organisation at the source, presses replay and
sees it succeed. Screenshots land in tests/browser/artifacts/ (gitignored)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import pytest

from sandbox.runner import ServerThread
from tests.conftest import ADMIN_TOKEN
from tests.support import RunningWorker
from tests.webhooks.ops_support import fix_account_number, refused_contact

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def require_browser() -> Any:
    """Playwright's sync API, or a loud skip (a failure when REQUIRE_BROWSER=1, as in CI)."""
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "the playwright package is not installed"
    if problem is None and not os.path.exists(CHROMIUM):
        problem = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if problem is None:
        return sync_playwright
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"REQUIRE_BROWSER=1 but {problem}")
    pytest.skip(f"SKIPPED LOUDLY: {problem}; .ci/run installs it and runs this test")


@pytest.fixture
def browser_page() -> Iterator[Any]:
    sync_playwright = require_browser()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("dialog", lambda dialog: dialog.accept())
        page.script_errors = errors  # type: ignore[attr-defined]
        yield page
        browser.close()


@pytest.fixture
def served(app: Any) -> Iterator[str]:
    with ServerThread(app) as server:
        yield server.url


@pytest.mark.browser
def test_operator_finds_a_refused_contact_fixes_it_and_replays_it(
    browser_page: Any, served: str, client: Any, admin: Any, rt: Any, sandbox: Any,
) -> None:
    page = browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    with RunningWorker(rt):
        # Given Xero refused a new organisation's contact (its account number is taken)
        case = refused_contact(client, admin, sandbox)
        event_id = case["event"]["id"]

        # When the operator opens /ops: the sign-in form, then the overview
        answer = page.goto(f"{served}/ops")
        assert answer.status == 401
        page.fill("#token", ADMIN_TOKEN)
        page.click("button:has-text('Sign in')")
        page.wait_for_selector("#queues-title")

        # And finds the failed event through the "Failed events" view
        page.click("nav >> text=Failed events")
        row = page.locator(f'tr[data-event-id="{event_id}"]')
        # named by the organisation's name, with the contact holding the number (issue 16)
        assert "The Festival Of Testing" in row.inner_text()
        assert "is already used by contact 'Old Festival Ltd'" in row.inner_text()
        page.screenshot(path=str(ARTIFACTS / "ops_overview_failed.png"), full_page=True)
        row.locator("text=Details").click()
        reason = page.inner_text("#reason")
        assert reason.startswith("Xero refused: account number 'FOT-001' is already used by contact 'Old Festival Ltd' ("), reason
        assert "Account Number already exists" in page.inner_text("#last-error")
        assert "HTTP 200" not in page.inner_text("#last-error")
        page.screenshot(path=str(ARTIFACTS / "ops_event_failed.png"), full_page=True)

        # And fixes the organisation in Current RMS, then presses replay
        fix_account_number(sandbox, case)
        page.click("button:has-text('Replay')")

        # Then the page follows the event until it succeeds
        page.wait_for_selector(".event-head .badge-succeeded", timeout=20_000)
        assert "contact created" in page.inner_text(".event-head")
        assert "The Festival Of Testing" in page.inner_text(".event-head")
        page.screenshot(path=str(ARTIFACTS / "ops_event_replayed.png"), full_page=True)

    # And the overview agrees; the page's script raised no error
    page.goto(f"{served}/ops?integration={case['integration']['id']}#events")
    assert "succeeded" in page.locator(f'tr[data-event-id="{event_id}"]').inner_text()
    page.screenshot(path=str(ARTIFACTS / "ops_overview_after.png"), full_page=True)
    assert page.script_errors == []


@pytest.mark.browser
def test_linking_by_hand_with_auto_suggest(browser_page: Any, served: str, client: Any, admin: Any, rt: Any, sandbox: Any) -> None:
    from core.store import links
    from tests.support import create_integration

    page = browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    # Given a Xero contact and a signed-in operator on the integration's page
    integration = create_integration(client, admin, sandbox, "xero")
    contact = sandbox.control("xero", "contacts", tenant=integration["tenant"],
                              contact={"Name": "Harbour Lights Ltd", "EmailAddress": "ap@harbour.example"})
    page.goto(f"{served}/ops/integrations/{integration['id']}")
    page.fill("#token", ADMIN_TOKEN)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("text=Link by hand")

    # When they type part of the name and pick the suggestion
    page.fill("input[name=organisation_id]", "77")
    page.type("input[name=contact_query]", "harb", delay=30)
    page.wait_for_selector(".suggestions li:has-text('Harbour Lights Ltd')")
    page.screenshot(path=str(ARTIFACTS / "ops_link_suggest.png"), full_page=True)
    page.click(".suggestions li:has-text('Harbour Lights Ltd')")
    assert page.input_value("#contact_id") == contact["ContactID"]
    with RunningWorker(rt):
        page.click("button:has-text('Link and sync')")
        page.wait_for_selector(".flash-ok")

    # Then the link exists and is listed with its Xero web address
    assert links.get(rt.db, integration["id"], 77).contact_id == contact["ContactID"]
    assert page.locator("a:has-text('Harbour Lights Ltd')").get_attribute("href").startswith("https://go.xero.com/")
