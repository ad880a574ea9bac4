"""The store suite's fixtures (a store on SQLite and PostgreSQL, its schema made by Alembic)."""
from tests.core.store.conftest import db, make_integration, vault  # noqa: F401 - fixtures shared, not copied
