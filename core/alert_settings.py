"""Alert settings (interface §12), read from the environment and checked at start.

Kept beside ``core.settings`` rather than in it while the alerts land; a malformed value raises
``ConfigError`` naming the variable, as every other setting does.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import unquote, urlsplit

from core.errors import ConfigError

#: A queue whose oldest message waits longer than this is stalled (interface §12: 10 minutes).
QUEUE_STALLED_SECONDS = 600.0
#: Alerts are retried with backoff for this long after they were recorded (interface §12).
GIVE_UP_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class AlertSettings:
    webhook_urls: tuple[str, ...] = ()
    signing_secret: str | None = None
    smtp: SmtpServer | None = None
    emails: tuple[str, ...] = ()
    email_from: str = "alerts@localhost"
    digest_minutes: int = 15
    #: How often the scheduler looks for conditions to alert about.
    check_seconds: float = 30.0
    #: First retry delay; doubled per attempt up to ``retry_max_seconds``.
    retry_min_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    give_up_seconds: float = GIVE_UP_SECONDS
    stalled_seconds: float = QUEUE_STALLED_SECONDS
    #: (connect, read) timeouts of one delivery.
    timeout_seconds: float = 10.0

    @property
    def has_receivers(self) -> bool:
        return bool(self.webhook_urls) or bool(self.smtp and self.emails)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AlertSettings:
        env = os.environ if environ is None else environ
        smtp = _smtp(env.get("SMTP_URL", "").strip())
        emails = _list(env, "ALERT_EMAILS")
        for address in emails:
            if "@" not in address or any(c.isspace() for c in address):
                raise ConfigError(f"ALERT_EMAILS holds an address that is not one: {address!r}")
        if emails and smtp is None:
            raise ConfigError("ALERT_EMAILS is set but SMTP_URL is not (smtp://host:port)")
        urls = _list(env, "ALERT_WEBHOOK_URLS")
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError("ALERT_WEBHOOK_URLS holds a value that is not an http(s) URL")
        return cls(
            webhook_urls=urls,
            signing_secret=env.get("ALERT_SIGNING_SECRET") or None,
            smtp=smtp,
            emails=emails,
            email_from=(env.get("ALERT_EMAIL_FROM") or "alerts@localhost").strip(),
            digest_minutes=_number(env, "ALERT_DIGEST_MINUTES", int, 15, low=1),
            check_seconds=_number(env, "ALERT_CHECK_SECONDS", float, 30.0, low=0.05),
            retry_min_seconds=_number(env, "ALERT_RETRY_MIN_SECONDS", float, 30.0, low=0.01),
            retry_max_seconds=_number(env, "ALERT_RETRY_MAX_SECONDS", float, 3600.0, low=0.01),
            give_up_seconds=_number(env, "ALERT_GIVE_UP_SECONDS", float, GIVE_UP_SECONDS, low=1),
        )


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in (env.get(name) or "").split(",") if part.strip())


#: The two kinds of number a setting may be.
Number = TypeVar("Number", int, float)


def _number(env: Mapping[str, str], name: str, kind: type[Number], default: Number, *, low: float) -> Number:
    raw = (env.get(name) or "").strip()
    if not raw:
        return kind(default)
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name} is not a valid {kind.__name__}: {raw!r}") from None
    if value < low:
        raise ConfigError(f"{name} must be at least {low}: {raw!r}")
    return value


def _smtp(raw: str) -> SmtpServer | None:
    if not raw:
        return None
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ConfigError("SMTP_URL is not a valid URL (smtp://host:port)") from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError("SMTP_URL must look like smtp://host:port or smtps://user:password@host:port")
    tls = parts.scheme == "smtps"
    return SmtpServer(
        host=parts.hostname, port=port or (465 if tls else 25), tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


_current: AlertSettings | None = None


def alert_settings() -> AlertSettings:
    """The process's alert settings, read from the environment once."""
    global _current
    if _current is None:
        _current = AlertSettings.from_env()
    return _current


def install(settings: AlertSettings | None) -> None:
    """Tests (and the app factory) set the settings explicitly."""
    global _current
    _current = settings
