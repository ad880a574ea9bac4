"""``core.store.matches`` on SQLite and PostgreSQL, its table made by the Alembic migration."""
from __future__ import annotations

from typing import Iterator

import pytest
from cryptography.fernet import Fernet

from core.crypto import Vault
from core.db import Database
from core.store import integrations, matches
from core.store.integrations import NewIntegration
from core.store.matches import NewResult
from tests.conftest import migrate


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    migrate(db_url)
    database = Database(db_url)
    yield database
    database.dispose()


def test_results_are_replaced_counted_listed_and_settled(db: Database) -> None:
    vault = Vault((Fernet.generate_key().decode(),))
    integration, _ = integrations.create(db, vault, NewIntegration(
        name="Acme", provider_kind="xero", source_subdomain="acme", secrets={"source_api_key": "k"}))
    candidate = {"contact_id": "c-1", "name": "Acme", "url": None, "matched_on": ["name"]}
    matches.save_many(db, integration.id, "job-1", [
        NewResult(1, "One", "full", [candidate]), NewResult(2, "Two", "none", []),
        NewResult(3, "Three", "partial", [candidate]),
    ])
    # a later batch of the same review replaces an organisation's row, never doubles it
    matches.save_many(db, integration.id, "job-1", [NewResult(2, "Two", "partial", [candidate])])
    assert matches.counts(db, integration.id) == {"full": 1, "partial": 2, "none": 0}
    assert [r.organisation_id for r in matches.listed(db, integration.id, "partial")] == [2, 3]
    assert matches.get(db, integration.id, 1).candidates == [candidate]  # type: ignore[union-attr]
    matches.remove(db, integration.id, [1])
    assert matches.counts(db, integration.id)["full"] == 0
    matches.clear(db, integration.id)
    assert matches.listed(db, integration.id) == []
