"""The typed view of ``Integration.settings`` / ``policies``, and the status enums (issue 11)."""
from __future__ import annotations

import json
from typing import Any

from core.integration_settings import IntegrationSettings, SourceSettings
from core.models import EventStatus, IntegrationStatus, JobStatus, Policies

STORED = {
    "source": {"api_url": "http://127.0.0.1:9/api/v1", "signed": True},
    "provider": {"realm_id": "4620816365", "api_url": "http://127.0.0.1:9/v3",
                 "token_url": "http://127.0.0.1:9/token", "kept": "as is"},
    "provider_state": {"short_code": "!abc"},
    "rate_limits": {"quickbooks": {"per_minute": 30}, "current_rms": {"concurrent": 1}},
}


def test_the_view_reads_every_part_and_the_tenant_under_the_kinds_key() -> None:
    view = IntegrationSettings.from_parts("quickbooks", STORED, {"link_existing_by_name": False})
    assert view.source == SourceSettings(api_url="http://127.0.0.1:9/api/v1", signed=True)
    assert view.provider.tenant == "4620816365"
    assert (view.provider.api_url, view.provider.token_url) == ("http://127.0.0.1:9/v3", "http://127.0.0.1:9/token")
    assert view.provider_state == {"short_code": "!abc"}
    assert view.limit_overrides("quickbooks") == {"per_minute": 30}
    assert view.limit_overrides("xero") == {}
    assert view.policies == Policies(link_existing_by_name=False)
    # the same stored settings under another kind: its own key is absent
    assert IntegrationSettings.from_parts("xero", STORED).provider.tenant is None


def test_missing_or_malformed_parts_read_as_defaults() -> None:
    for stored in (None, {}, {"source": "x", "provider": None, "rate_limits": [1], "provider_state": 3}):
        view = IntegrationSettings.from_parts("sage", stored)  # type: ignore[arg-type]
        assert view.source == SourceSettings()
        assert (view.provider.api_url, view.provider.tenant) == (None, None)
        assert view.provider_state == {} and view.rate_limits == {}
        assert view.policies == Policies()


def test_an_unregistered_kind_has_no_tenant() -> None:
    assert IntegrationSettings.from_parts("retired", {"provider": {"tenant_id": "t"}}).provider.tenant is None


def test_merges_keep_what_the_view_does_not_name() -> None:
    view = IntegrationSettings.from_parts("quickbooks", STORED)
    assert view.provider_merged({"realm_id": "1"}) == {**STORED["provider"], "realm_id": "1"}
    assert view.provider_state_merged({"x": 1}) == {"short_code": "!abc", "x": 1}
    assert STORED["provider"]["realm_id"] == "4620816365"  # nothing written through the view


def test_the_view_of_a_stored_integration(rt: Any) -> None:
    from core.store import integrations
    from core.store.integrations import NewIntegration

    stored, _ = integrations.create(rt.db, rt.vault, NewIntegration(
        name="n", provider_kind="quickbooks", source_subdomain="acme", settings=STORED,
        policies={"write_link_to_field": "accounting_link"},
    ))
    view = IntegrationSettings.of(integrations.get(rt.db, stored.id))  # type: ignore[arg-type]
    assert view.provider.tenant == "4620816365"
    assert view.policies.write_link_to_field == "accounting_link"


def test_statuses_are_their_strings_in_json_and_in_the_database(db_url: str) -> None:
    from cryptography.fernet import Fernet

    from core.crypto import Vault
    from core.db import Database
    from core.store import integrations
    from core.store.integrations import NewIntegration
    from tests.conftest import migrate

    assert EventStatus.QUEUED == "queued" and json.dumps([EventStatus.QUEUED]) == '["queued"]'
    assert set(EventStatus.owed()) | set(EventStatus.final()) | {EventStatus.PROCESSING} == set(EventStatus)
    assert set(JobStatus.unfinished()) | set(JobStatus.finished()) == set(JobStatus)
    migrate(db_url)
    db, vault = Database(db_url), Vault((Fernet.generate_key().decode(),))
    try:
        created, _ = integrations.create(db, vault, NewIntegration(
            name="n", provider_kind="xero", source_subdomain="acme"))
        integrations.set_status(db, created.id, IntegrationStatus.RECONNECT_NEEDED, "refused")
        status = integrations.get(db, created.id).status  # type: ignore[union-attr]
        assert status == IntegrationStatus.RECONNECT_NEEDED and type(status) is str
    finally:
        db.dispose()


def test_defaults_mapping_and_worker_state_are_read_as_stored() -> None:
    stored = {**STORED, "defaults": {"account_code": "200"}, "defaults_resolved": {"account_code": "acc-1"},
              "mapping": {"custom_fields": {"company_no": "aux_reference"}},
              "ledger_poll": {"since": "2026-01-01T00:00:00+00:00"}}
    view = IntegrationSettings.from_parts("quickbooks", stored)
    assert view.defaults == {"account_code": "200"}
    assert view.defaults_resolved == {"account_code": "acc-1"}
    assert view.custom_fields == {"company_no": "aux_reference"}
    assert view.state_of("ledger_poll") == {"since": "2026-01-01T00:00:00+00:00"}
    assert view.state_of("link_verify") == {}
    assert view.provider_stored == STORED["provider"]
    for malformed in (None, {"defaults": 3, "mapping": {"custom_fields": "x"}, "ledger_poll": "y"}, {"mapping": None}):
        empty = IntegrationSettings.from_parts("quickbooks", malformed)
        assert (empty.defaults, empty.defaults_resolved, empty.custom_fields) == ({}, {}, {})
        assert empty.state_of("ledger_poll") == {}


def test_patch_merges_keep_the_keys_not_sent() -> None:
    view = IntegrationSettings.from_parts("quickbooks", STORED)
    assert view.source_merged({"signed": False}) == {"api_url": "http://127.0.0.1:9/api/v1", "signed": False}
    assert view.rate_limits_merged({"quickbooks": {"per_minute": 10}}) == {
        "quickbooks": {"per_minute": 10}, "current_rms": {"concurrent": 1}}
    assert view.provider_merged({"api_url": None})["kept"] == "as is"
