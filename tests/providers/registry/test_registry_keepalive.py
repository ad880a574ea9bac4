"""The keep-alive pass survives an integration whose kind is no longer registered (issue 11)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from core.store import integrations
from core.store.integrations import NewIntegration
from tests.support import create_integration
from workers.scheduler import keep_alive


def test_an_unknown_kind_does_not_stop_the_keep_alive_of_the_integrations_after_it(
    client: Any, admin: Any, sandbox: Any, rt: Any,
) -> None:
    # Given an integration of a kind no provider serves any more (stored first, so it comes
    # first in the pass), and a Xero integration idle for weeks after it
    retired, _token = integrations.create(rt.db, rt.vault, NewIntegration(
        name="retired system", provider_kind="retired", source_subdomain="retired",
        secrets={"refresh_token": "r", "access_token": "a",
                 "expires_at": (datetime.now(timezone.utc) - timedelta(days=400)).isoformat()},
    ))
    idle = create_integration(client, admin, sandbox, "xero")
    expired = (datetime.now(timezone.utc) - timedelta(days=15)).isoformat()
    integrations.merge_secrets(rt.db, rt.vault, idle["id"], {"expires_at": expired})
    before = integrations.secrets_of(rt.vault, integrations.get(rt.db, idle["id"]))

    # When the keep-alive pass runs
    refreshed = keep_alive(rt)

    # Then the Xero integration was refreshed (the retired one is skipped, not fatal)
    assert refreshed == 1
    after = integrations.secrets_of(rt.vault, integrations.get(rt.db, idle["id"]))
    assert after["refresh_token"] != before["refresh_token"]
    assert integrations.get(rt.db, retired.id).status == "active"
