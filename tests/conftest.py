"""Fixtures every suite shares: a real Redis, a real database, the sandbox, the app, a worker.

- Redis: ``TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``), flushed around each test.
  ``make test`` starts a local Redis first where none answers.
- Database: SQLite in a temporary folder; ``db_url`` is parametrised over PostgreSQL too for
  the store tests (``TEST_DATABASE_URL_POSTGRES``); where no PostgreSQL answers those tests
  skip loudly, unless ``REQUIRE_POSTGRES=1`` (CI), where they fail.
- Sandbox: the four stand-ins served once per session on 127.0.0.1, reset before each test.
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Any, Iterator

import pytest
import redis
import requests
from cryptography.fernet import Fernet

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# The Dramatiq broker is built from REDIS_URL when ``workers`` is first imported.
os.environ["REDIS_URL"] = TEST_REDIS_URL
POSTGRES_URL = os.environ.get(
    "TEST_DATABASE_URL_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ADMIN_TOKEN = "test-admin-token-0123456789abcdef"


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as error:  # pragma: no cover - make test starts one
        pytest.fail(f"no Redis at {TEST_REDIS_URL}: run `make test`, which starts one ({error})")
    return TEST_REDIS_URL


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    from workers import outbox_sender

    client = redis.Redis.from_url(redis_url)
    # A web process's sender thread may still hold an earlier test's messages (it waits a few
    # milliseconds to batch them): sent now, they cannot land in this test's clean Redis.
    outbox_sender.flush_all(timeout=5)
    client.flushdb()
    yield client
    outbox_sender.flush_all(timeout=5)
    client.flushdb()


def postgres_available() -> bool:
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 2})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


def require_postgres() -> None:
    if postgres_available():
        return
    if os.environ.get("REQUIRE_POSTGRES") == "1":
        pytest.fail(f"REQUIRE_POSTGRES=1 but no PostgreSQL answers at {POSTGRES_URL}")
    pytest.skip(f"SKIPPED LOUDLY: no PostgreSQL at {POSTGRES_URL}; CI runs these")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema in the PostgreSQL test database, dropped afterwards."""
    import sqlalchemy

    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/app.db"
    return request.getfixturevalue("postgres_url")


def make_env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": database_url,
        "REDIS_URL": TEST_REDIS_URL,
        "PUBLIC_URL": "http://127.0.0.1:9",
        "RETRY_MIN_SECONDS": "0.2",
        "RETRY_MAX_SECONDS": "1",
        **extra,
    }


@pytest.fixture
def rt(tmp_path: Any, redis_client: redis.Redis) -> Iterator[Any]:
    """A runtime on a fresh SQLite database (migrated with Alembic) and the test Redis."""
    from core import runtime as runtime_module
    from core.runtime import Runtime
    from core.settings import Settings

    settings = Settings.from_env(make_env(f"sqlite:///{tmp_path}/app.db"))
    migrate(settings.database_url)
    runtime = Runtime.from_settings(settings)
    runtime_module.install(runtime)
    yield runtime
    runtime_module.install(None)
    runtime.close()


def migrate(database_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(os.path.join(os.path.dirname(__file__), "..", "alembic.ini"))
    # Alembic's config interpolates "%": a PostgreSQL URL's options=-csearch_path%3D... needs %%.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    command.upgrade(config, "head")


@pytest.fixture
def app(rt: Any) -> Any:
    from webhooks import create_app

    return create_app({"TESTING": True}, rt=rt)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@dataclass
class Sandbox:
    """The four stand-ins, served on 127.0.0.1 for the whole session."""

    current_rms: str
    xero: str
    quickbooks: str
    sage: str

    def reset(self) -> None:
        for base in (self.current_rms, self.xero, self.quickbooks, self.sage):
            requests.post(f"{base}/_sandbox/reset", timeout=5).raise_for_status()

    def control(self, system: str, path: str, **body: Any) -> Any:
        response = requests.post(f"{getattr(self, system)}/_sandbox/{path}", json=body, timeout=5)
        response.raise_for_status()
        return response.json() if response.content else None

    def get(self, system: str, path: str, **params: Any) -> Any:
        response = requests.get(f"{getattr(self, system)}/_sandbox/{path}", params=params, timeout=5)
        response.raise_for_status()
        return response.json()

    def calls(self, system: str) -> list[dict[str, Any]]:
        return self.get(system, "calls")["calls"]


@pytest.fixture(scope="session")
def sandbox_servers() -> Iterator[Sandbox]:
    from sandbox import current_rms, quickbooks, sage, xero
    from sandbox.runner import ServerThread

    servers = {
        "current_rms": ServerThread(current_rms.create_app()).start(),
        "xero": ServerThread(xero.create_app()).start(),
        "quickbooks": ServerThread(quickbooks.create_app()).start(),
        "sage": ServerThread(sage.create_app()).start(),
    }
    yield Sandbox(**{name: server.url for name, server in servers.items()})
    for server in servers.values():
        server.stop()


@pytest.fixture
def sandbox(sandbox_servers: Sandbox) -> Sandbox:
    sandbox_servers.reset()
    return sandbox_servers
