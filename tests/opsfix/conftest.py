"""The store suites' fixtures (a database per backend, integrations in it) for the store tests here."""
from tests.core.store.conftest import db, make_integration, vault  # noqa: F401 - fixtures
