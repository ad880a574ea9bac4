"""The receivers: JSON webhooks (Slack-compatible, optionally signed) and email over SMTP.

Each ``send_*`` returns nothing on success and raises ``DeliveryFailed`` with a short reason
(never the URL, which may be a secret) otherwise.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import time
from email.message import EmailMessage
from typing import Any

import requests

from core.alert_settings import AlertSettings

SIGNATURE_HEADER = "X-Signature"


class DeliveryFailed(Exception):
    pass


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, body: bytes, at: int) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` (interface §12; Stripe's shape)."""
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def send_webhook(settings: AlertSettings, url: str, payload: dict[str, Any]) -> None:
    body = body_of(payload)
    headers = {"Content-Type": "application/json", "User-Agent": "current-rms-accounting-link alerts"}
    if settings.signing_secret:
        headers[SIGNATURE_HEADER] = signature(settings.signing_secret, body, int(time.time()))
    try:
        answer = requests.post(url, data=body, headers=headers, allow_redirects=False,
                               timeout=(3.05, settings.timeout_seconds))
    except requests.RequestException as error:
        raise DeliveryFailed(f"no answer ({type(error).__name__})") from None
    if not 200 <= answer.status_code < 300:
        raise DeliveryFailed(f"HTTP {answer.status_code}")


def send_email(settings: AlertSettings, payload: dict[str, Any]) -> None:
    server = settings.smtp
    if server is None or not settings.emails:
        raise DeliveryFailed("SMTP_URL or ALERT_EMAILS is no longer set")
    message = EmailMessage()
    message["Subject"] = _subject(payload)
    message["From"] = settings.email_from
    message["To"] = ", ".join(settings.emails)
    message.set_content(f"{payload['text']}\n\n{payload['ops_url']}\n\n{json.dumps(payload, indent=2)}\n")
    try:
        if server.tls:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(server.host, server.port, timeout=settings.timeout_seconds,
                                                  context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(server.host, server.port, timeout=settings.timeout_seconds)
        with smtp:
            if server.username and server.password:
                smtp.login(server.username, server.password)
            refused = smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        raise DeliveryFailed(f"SMTP: {type(error).__name__}") from None
    if refused:
        raise DeliveryFailed(f"SMTP refused {len(refused)} recipient(s)")


def _subject(payload: dict[str, Any]) -> str:
    name = payload.get("integration_name")
    kind = payload["alert"].replace("_", " ")
    return f"[alert] {kind}: {name}" if name else f"[alert] {kind}"
