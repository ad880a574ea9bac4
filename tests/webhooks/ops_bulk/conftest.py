"""The browser fixtures this suite shares with ``tests/browser`` (a conftest makes them fixtures
here without the test module naming them, which pyflakes would read as redefinitions)."""
from __future__ import annotations

from tests.browser.test_ops_browser import browser_page, served  # noqa: F401 - fixtures
