"""``core.store.integrations`` on SQLite and PostgreSQL: create, sealed secrets, settings,
status, webhook-token rotation and soft delete."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy
from cryptography.fernet import Fernet

from core import webhook_tokens
from core.crypto import Vault
from core.db import Database
from core.errors import ConfigError
from core.store import integrations
from core.store.integrations import NewIntegration
from core.tables import utcnow

SECRETS = {"source_api_key": "apikey-9f8e7d6c", "client_secret": "clientsecret-5a4b3c",
           "access_token": "access-1a2b3c4d", "refresh_token": "refresh-0f9e8d7c"}


def new(**changes: Any) -> NewIntegration:
    values = {"name": "Acme to Xero", "provider_kind": "xero", "source_subdomain": "acme",
              "settings": {"provider": {"tenant_id": "t-1"}}, "secrets": dict(SECRETS),
              "policies": {"create_contact_on_create": False}}
    values.update(changes)
    return NewIntegration(**values)


def raw_row(db: Database, integration_id: str) -> dict[str, Any]:
    with db.engine.connect() as connection:
        row = connection.execute(sqlalchemy.text("SELECT * FROM integrations WHERE id = :id"),
                                 {"id": integration_id}).mappings().one()
    return {key: value for key, value in row.items()}


def test_create_stores_the_integration_and_returns_its_token_once(db: Database, vault: Vault) -> None:
    integration, token = integrations.create(db, vault, new())
    stored = integrations.get(db, integration.id)
    assert stored is not None
    assert (stored.name, stored.provider_kind, stored.source_subdomain, stored.status) == (
        "Acme to Xero", "xero", "acme", "active")
    assert stored.settings == {"provider": {"tenant_id": "t-1"}}
    assert stored.policies == {"create_contact_on_create": False}
    assert stored.poll_watermark == stored.created_at
    assert len(token) >= 40
    assert webhook_tokens.accepts(stored, token)
    assert not webhook_tokens.accepts(stored, token + "x")
    assert not webhook_tokens.accepts(stored, None)


def test_secrets_are_sealed_at_rest_and_open_with_the_key(db: Database, vault: Vault) -> None:
    integration, token = integrations.create(db, vault, new())
    row = json.dumps({key: str(value) for key, value in raw_row(db, integration.id).items()})
    for secret in list(SECRETS.values()) + [token]:
        assert secret not in row, secret
    assert integrations.secrets_of(vault, integrations.get(db, integration.id)) == SECRETS


def test_merge_secrets_replaces_the_keys_given_and_keeps_the_others(db: Database, vault: Vault) -> None:
    integration, _ = integrations.create(db, vault, new())
    integrations.merge_secrets(db, vault, integration.id, {"access_token": "access-new", "refresh_token": "refresh-new"})
    opened = integrations.secrets_of(vault, integrations.get(db, integration.id))
    assert opened == {**SECRETS, "access_token": "access-new", "refresh_token": "refresh-new"}
    assert "access-new" not in json.dumps({k: str(v) for k, v in raw_row(db, integration.id).items()})


def test_merge_settings_update_and_set_status(db: Database, vault: Vault) -> None:
    integration, _ = integrations.create(db, vault, new())
    integrations.merge_settings(db, integration.id, {"short_code": "!abc"})
    integrations.set_status(db, integration.id, "reconnect_needed", "reconnect the accounting system")
    integrations.update(db, integration.id, name="Renamed")
    stored = integrations.get(db, integration.id)
    assert stored is not None
    assert stored.settings == {"provider": {"tenant_id": "t-1"}, "short_code": "!abc"}
    assert (stored.status, stored.status_reason, stored.name) == (
        "reconnect_needed", "reconnect the accounting system", "Renamed")
    assert integrations.update(db, "0" * 32, name="x") is None


def test_rotate_keeps_the_previous_token_for_24_hours(db: Database, vault: Vault) -> None:
    # Given an integration and its token
    integration, old = integrations.create(db, vault, new())
    # When its token is rotated
    rotated = integrations.rotate_webhook_token(db, integration.id)
    assert rotated is not None
    token, valid_until = rotated
    # Then both open the webhook, the previous one until 24 hours from now
    stored = integrations.get(db, integration.id)
    assert stored is not None and token != old
    assert webhook_tokens.accepts(stored, token) and webhook_tokens.accepts(stored, old)
    assert timedelta(hours=23, minutes=59) < valid_until - utcnow() <= timedelta(hours=24)
    assert stored.previous_token_valid_until == valid_until
    # And after those 24 hours only the new one does
    assert not webhook_tokens.accepts(stored, old, now=valid_until + timedelta(seconds=1))
    assert webhook_tokens.accepts(stored, token, now=valid_until + timedelta(days=30))
    # And a second rotation retires the first token at once
    second = integrations.rotate_webhook_token(db, integration.id)
    assert second is not None
    stored = integrations.get(db, integration.id)
    assert not webhook_tokens.accepts(stored, old)
    assert webhook_tokens.accepts(stored, token) and webhook_tokens.accepts(stored, second[0])


def test_soft_delete_removes_credentials_and_hides_the_integration(db: Database, vault: Vault) -> None:
    kept, _ = integrations.create(db, vault, new(name="Kept"))
    gone, _ = integrations.create(db, vault, new(name="Gone"))
    integrations.update(db, gone.id, webhook_ids=[11, 12], webhooks_registered=True)
    assert integrations.soft_delete(db, gone.id) is True
    assert integrations.soft_delete(db, gone.id) is False
    assert integrations.get(db, gone.id) is None
    deleted = integrations.get(db, gone.id, include_deleted=True)
    assert deleted is not None and deleted.deleted_at is not None
    assert (deleted.sealed_secrets, deleted.status, deleted.webhook_ids, deleted.webhooks_registered) == (
        None, "disabled", [], False)
    assert integrations.secrets_of(vault, deleted) == {}
    assert [i.id for i in integrations.all_active(db)] == [kept.id]
    assert integrations.rotate_webhook_token(db, gone.id) is None


def test_reseal_all_reencrypts_with_the_first_key(db: Database) -> None:
    # Given secrets sealed with an old key
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    integration, _ = integrations.create(db, Vault((old_key,)), new())
    # When a new key is put first and every row resealed
    assert integrations.reseal_all(db, Vault((new_key, old_key))) == 1
    # Then the new key alone opens them, and the old one no longer does
    stored = integrations.get(db, integration.id)
    assert integrations.secrets_of(Vault((new_key,)), stored) == SECRETS
    with pytest.raises(ConfigError):
        integrations.secrets_of(Vault((old_key,)), stored)
