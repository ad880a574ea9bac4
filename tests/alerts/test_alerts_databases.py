"""The alert pass, resolution and "needs attention" on both databases (SQLite and PostgreSQL)."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from core.alert_settings import AlertSettings
from core.alerts import detect, store
from core.store import event_resolution, events, integrations
from core.store.integrations import NewIntegration
from tests.conftest import make_env, migrate
from tests.webhooks.events_api.test_events_resolution import _event


@pytest.fixture
def any_rt(db_url: str, redis_client: Any) -> Iterator[Any]:
    from core.runtime import Runtime
    from core.settings import Settings

    settings = Settings.from_env(make_env(db_url))
    migrate(settings.database_url)
    runtime = Runtime.from_settings(settings)
    yield runtime
    runtime.close()


def test_pass_and_attention_on_each_database(any_rt: Any) -> None:
    rt = any_rt
    integration, _ = integrations.create(rt.db, rt.vault, NewIntegration("Acme", "xero", "acme"))
    integrations.update(rt.db, integration.id, webhooks_registered=True)
    failed = _event(rt, integration.id, "failed", ago=60)
    superseded = _event(rt, integration.id, "failed", organisation_id=2, ago=60)
    later = _event(rt, integration.id, "succeeded", organisation_id=2)
    resolved = _event(rt, integration.id, "failed", organisation_id=3, ago=30)
    assert event_resolution.resolve(rt.db, resolved, "done") is not None

    attention, _ = events.page(rt.db, event_resolution.AttentionFilter(integration_id=integration.id),
                               limit=10, cursor=None)
    assert [e.id for e in attention] == [failed]
    rows = [events.get(rt.db, e) for e in (failed, superseded)]
    assert event_resolution.superseding(rt.db, rows) == {superseded: later}

    recorded = detect.run_pass(rt, AlertSettings.from_env({}))
    assert len(recorded) == 1
    page, cursor = store.page(rt.db, store.AlertFilter(kind="events_failed"), limit=1, cursor=None)
    assert page[0].payload["count"] == 3 and cursor is None
