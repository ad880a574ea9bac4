"""Configuration from the environment, declared in one place (interface §2).

``Settings.from_env()`` reads and checks every variable at start; a malformed value, or a
missing ``ADMIN_TOKEN`` / ``ENCRYPTION_KEY``, raises ``ConfigError`` naming the variable, so
the process stops before it serves anything.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Mapping

from core.errors import ConfigError

if TYPE_CHECKING:
    from providers.base import ProviderUrls

CURRENT_RMS_API_URL = "https://api.current-rms.com/api/v1"
#: Current RMS's web app, one host per account; ``{subdomain}`` is the integration's.
CURRENT_RMS_WEB_URL = "https://{subdomain}.current-rms.com"


@dataclass(frozen=True)
class ProviderApp:
    """The URLs and OAuth app credentials of one accounting system."""

    api_url: str
    token_url: str
    authorize_url: str
    client_id: str | None
    client_secret: str | None
    #: ``<PREFIX>_WEB_URL``: the base of the web links to contacts, where it is not the real
    #: web app's (``make run`` points it at the sandbox's pages); ``None``: the provider's own.
    web_url: str | None = None


@dataclass(frozen=True)
class Settings:
    port: int = 8000
    database_url: str = "sqlite:///var/app.db"
    redis_url: str = "redis://127.0.0.1:6379/0"
    #: Where the queues live: empty (or a ``redis://`` URL) keeps them on Redis, an ``amqp://``
    #: URL puts them on RabbitMQ (``workers.broker``); locks, limiters and caches stay on Redis.
    broker_url: str = ""
    admin_token: str = ""
    encryption_keys: tuple[str, ...] = ()
    public_url: str = "http://127.0.0.1:8000"
    reconcile_interval_seconds: int = 300
    event_retention_days: int = 90
    current_rms_api_url: str = CURRENT_RMS_API_URL
    #: ``CURRENT_RMS_WEB_URL``: the base of the links to an organisation's page (``{subdomain}``
    #: is filled in); ``make run`` points it at the sandbox's pages.
    current_rms_web_url: str = CURRENT_RMS_WEB_URL
    #: Each registered accounting system's URLs and app credentials, by kind.
    providers: dict[str, ProviderApp] = field(default_factory=dict)
    #: Largest webhook body accepted (interface §4: 413 above 1 MiB).
    max_webhook_bytes: int = 1024 * 1024
    #: Lifetime of an organisation lock and an event lease unless renewed: a keeper renews both
    #: while a sync runs, so it only has to cover one call after the fencing check
    #: (``core.locks``); short, so that a dead process on another host frees them soon.
    lock_ttl_seconds: float = 30.0
    #: Give up retrying a transient failure after this long (docs/architecture.md: 24 hours).
    retry_give_up_seconds: float = 24 * 3600
    #: Exponential backoff bounds for transient failures (docs/architecture.md: about 5 s to 10 min).
    retry_min_seconds: float = 5.0
    retry_max_seconds: float = 600.0
    #: (connect, read) timeouts of every outbound call.
    http_timeout: tuple[float, float] = (3.05, 20.0)
    #: Shortened rate-limit window for tests and benchmarks (seconds); 0 keeps the real ones.
    rate_limit_window_seconds: float = 0.0
    #: Coalesce a tenant's backlog of creates into the provider's batch calls (issue 8);
    #: ``BATCH_CREATES=0`` makes one call per contact (the benchmark's baseline).
    batch_creates: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        port = parse_number(env, "PORT", int, "8000")
        settings = cls(
            port=port,
            database_url=env.get("DATABASE_URL") or "sqlite:///var/app.db",
            redis_url=env.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
            broker_url=_broker_url(env),
            admin_token=_required(env, "ADMIN_TOKEN"),
            encryption_keys=_fernet_keys(_required(env, "ENCRYPTION_KEY")),
            public_url=(env.get("PUBLIC_URL") or f"http://127.0.0.1:{port}").rstrip("/"),
            reconcile_interval_seconds=parse_number(env, "RECONCILE_INTERVAL_SECONDS", int, "300"),
            event_retention_days=parse_number(env, "EVENT_RETENTION_DAYS", int, "90"),
            current_rms_api_url=_url(env, "CURRENT_RMS_API_URL", CURRENT_RMS_API_URL),
            current_rms_web_url=_url(env, "CURRENT_RMS_WEB_URL", CURRENT_RMS_WEB_URL),
            providers=_provider_apps(env),
            lock_ttl_seconds=parse_number(env, "LOCK_TTL_SECONDS", float, "30"),
            retry_give_up_seconds=parse_number(env, "RETRY_GIVE_UP_SECONDS", float, str(24 * 3600)),
            retry_min_seconds=parse_number(env, "RETRY_MIN_SECONDS", float, "5"),
            retry_max_seconds=parse_number(env, "RETRY_MAX_SECONDS", float, "600"),
            rate_limit_window_seconds=parse_number(env, "RATE_LIMIT_WINDOW_SECONDS", float, "0"),
            batch_creates=_flag(env, "BATCH_CREATES", True),
            http_timeout=(
                parse_number(env, "HTTP_CONNECT_TIMEOUT_SECONDS", float, "3.05"),
                parse_number(env, "HTTP_READ_TIMEOUT_SECONDS", float, "20"),
            ),
        )
        if len(settings.admin_token) < 16:
            raise ConfigError("ADMIN_TOKEN must be at least 16 characters")
        return settings

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _required(env: Mapping[str, str], name: str) -> str:
    value = (env.get(name) or "").strip()
    if not value:
        raise ConfigError(f"{name} is not set (make run generates one under var/)")
    return value


def parse_number(env: Mapping[str, str], name: str, kind: Callable[[str], Any], default: str) -> Any:
    """A non-negative number setting (``kind``: ``int`` or ``float``); ``ConfigError`` naming it."""
    raw = env.get(name) or default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name} is not a valid {kind.__name__}: {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative: {raw!r}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0: {raw!r}")


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = (env.get(name) or default).rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must be an http(s) URL: {value!r}")
    return value


#: The schemes BROKER_URL may have: Redis's (as REDIS_URL) or RabbitMQ's.
BROKER_SCHEMES = ("redis://", "rediss://", "unix://", "amqp://", "amqps://")


def _broker_url(env: Mapping[str, str]) -> str:
    value = (env.get("BROKER_URL") or "").strip()
    if value and not value.startswith(BROKER_SCHEMES):
        # Only the scheme is shown: the rest of the URL may hold a password.
        scheme = f"{value.split('://', 1)[0]}://" if "://" in value else "no scheme"
        raise ConfigError(f"BROKER_URL must be an amqp(s):// (RabbitMQ) or redis(s):// URL, not {scheme}")
    return value


def _provider_apps(env: Mapping[str, str]) -> dict[str, ProviderApp]:
    """One ``ProviderApp`` per registered kind; its variables' prefix and default URLs are
    facts of its provider class (``env_prefix``, ``default_urls``)."""
    # Imported here, not at the top: provider packages import core modules.
    from providers import registry

    apps: dict[str, ProviderApp] = {}
    for kind in registry.kinds():
        try:
            cls = registry.provider_class(kind)
        except (ImportError, AttributeError, TypeError) as error:
            raise ConfigError(
                f"provider {kind!r} ({registry.PROVIDERS[kind]}) cannot be loaded: {error}"
            ) from None
        apps[kind] = _provider_app(env, cls.env_prefix, cls.default_urls)
    return apps


def _provider_app(env: Mapping[str, str], prefix: str, defaults: ProviderUrls) -> ProviderApp:
    return ProviderApp(
        api_url=_url(env, f"{prefix}_API_URL", defaults.api),
        token_url=_url(env, f"{prefix}_TOKEN_URL", defaults.token),
        authorize_url=_url(env, f"{prefix}_AUTHORIZE_URL", defaults.authorize),
        client_id=env.get(f"{prefix}_CLIENT_ID") or None,
        client_secret=env.get(f"{prefix}_CLIENT_SECRET") or None,
        web_url=_url(env, f"{prefix}_WEB_URL", "") if env.get(f"{prefix}_WEB_URL") else None,
    )


def _fernet_keys(raw: str) -> tuple[str, ...]:
    from cryptography.fernet import Fernet

    keys = tuple(k.strip() for k in raw.split(",") if k.strip())
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ConfigError(
                "ENCRYPTION_KEY is not a valid Fernet key (32 url-safe base64-encoded bytes); "
                "generate one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            ) from None
    return keys
