"""Under ``make run`` links open the sandbox's own pages (issue 16), in headless Chromium: the
service configured as ``scripts.dev_env`` configures it (``XERO_WEB_URL`` and
``CURRENT_RMS_WEB_URL`` naming the stand-ins), an organisation synced, then the operator clicks
"open in Current RMS" and the contact's link on the event page and lands on the stand-ins'
pages, which show the records. Screenshots land in tests/browser/artifacts/ (gitignored)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from core import runtime as runtime_module
from core.runtime import Runtime
from core.settings import Settings
from sandbox.runner import ServerThread
from tests.browser.test_ops_browser import ARTIFACTS, browser_page  # noqa: F401 - fixture
from tests.conftest import ADMIN_TOKEN, make_env, migrate
from tests.support import RunningWorker, create_integration, seed_organisation, send_webhook, wait_event

NAME = "Harbour Lights Ltd"


@pytest.fixture
def linked_rt(tmp_path: Path, redis_client: Any, sandbox: Any) -> Iterator[Runtime]:
    """The test runtime, with the web-link bases ``make run`` sets pointing at the sandbox."""
    settings = Settings.from_env(make_env(f"sqlite:///{tmp_path}/app.db", XERO_WEB_URL=sandbox.xero,
                                          CURRENT_RMS_WEB_URL=sandbox.current_rms))
    migrate(settings.database_url)
    runtime = Runtime.from_settings(settings)
    runtime_module.install(runtime)
    yield runtime
    runtime_module.install(None)
    runtime.close()


@pytest.mark.browser
def test_the_operator_opens_the_sandboxs_pages_from_the_event_page(browser_page: Any, linked_rt: Runtime,  # noqa: F811
                                                                  sandbox: Any) -> None:
    from webhooks import create_app

    page = browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    app = create_app({"TESTING": True}, rt=linked_rt)
    client, admin = app.test_client(), {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    # Given an organisation whose Xero contact was created
    integration = create_integration(client, admin, sandbox, "xero")
    member = seed_organisation(sandbox, integration["subdomain"], name=NAME)
    with RunningWorker(linked_rt):
        event = wait_event(client, admin, send_webhook(client, integration, member["id"], "create")
                           .get_json()["event_id"], timeout=40)
    assert event["status"] == "succeeded", event

    with ServerThread(app) as server:
        # When the operator opens the event's page
        page.goto(f"{server.url}/ops/events/{event['id']}")
        page.fill("#token", ADMIN_TOKEN)
        page.click("button:has-text('Sign in')")
        page.wait_for_selector(".event-head")
        page.screenshot(path=str(ARTIFACTS / "sandbox_links_event.png"), full_page=True)

        # Then "open in Current RMS" opens the rental stand-in's page of the organisation
        organisation = page.locator("a:has-text('open in Current RMS')")
        assert organisation.get_attribute("href") == f"{sandbox.current_rms}/members/{member['id']}"
        with page.context.expect_page() as opened:
            organisation.click()
        rental = opened.value
        rental.wait_for_load_state()
        assert rental.inner_text("h1") == NAME and "Current RMS sandbox" in rental.inner_text("body")
        rental.screenshot(path=str(ARTIFACTS / "sandbox_links_organisation.png"), full_page=True)

        # And the contact's link opens the Xero stand-in's page of the contact
        contact = page.locator(f"a:has-text('{NAME} ↗')")
        assert contact.get_attribute("href").startswith(f"{sandbox.xero}/")
        with page.context.expect_page() as opened:
            contact.click()
        xero = opened.value
        xero.wait_for_load_state()
        assert xero.inner_text("h1") == NAME and "Xero sandbox" in xero.inner_text("body")
        assert event["outcome"]["contact_id"] in xero.inner_text("body")
        xero.screenshot(path=str(ARTIFACTS / "sandbox_links_contact.png"), full_page=True)
    assert page.script_errors == []
