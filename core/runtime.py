"""The process-wide resources web and workers share: settings, database, Redis, vault.

Built once per process from the environment (``Runtime.from_env``) or by a test with its own
settings (``install``). Actors and views reach it through ``runtime()``.
"""
from __future__ import annotations

from dataclasses import dataclass

import redis

from core.crypto import Vault
from core.db import Database
from core.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    db: Database
    redis: redis.Redis
    vault: Vault

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        return cls(
            settings=settings,
            db=Database(settings.database_url),
            redis=redis.Redis.from_url(
                settings.redis_url, socket_connect_timeout=2, socket_timeout=5,
                health_check_interval=30,
            ),
            vault=Vault(settings.encryption_keys),
        )

    def close(self) -> None:
        self.db.dispose()
        self.redis.close()


_current: Runtime | None = None


def install(rt: Runtime | None) -> None:
    global _current
    _current = rt


def runtime() -> Runtime:
    """The process's runtime, built from the environment on first use."""
    global _current
    if _current is None:
        _current = Runtime.from_settings(Settings.from_env())
    return _current
