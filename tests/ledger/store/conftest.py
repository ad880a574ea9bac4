"""A store on each database (``db_url``: SQLite and PostgreSQL), its schema made by Alembic."""
from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest
from cryptography.fernet import Fernet

from core.crypto import Vault
from core.db import Database
from core.store import integrations
from core.store.integrations import NewIntegration
from tests.conftest import migrate


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    migrate(db_url)
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def vault() -> Vault:
    return Vault((Fernet.generate_key().decode(),))


@pytest.fixture
def make_integration(db: Database, vault: Vault) -> Callable[..., Any]:
    def make(**changes: Any) -> Any:
        new = NewIntegration(**{"name": "Acme to Xero", "provider_kind": "xero", "source_subdomain": "acme",
                                "secrets": {"source_api_key": "key-1"}, **changes})
        integration, _token = integrations.create(db, vault, new)
        return integration
    return make
