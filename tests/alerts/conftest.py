from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.alerts.receivers import HttpReceiver, SmtpReceiver, start_http_receiver, start_smtp_receiver


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = start_http_receiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    receiver = start_smtp_receiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def alert_config(http_receiver: HttpReceiver, smtp_receiver: SmtpReceiver) -> Any:
    from core import alert_settings
    from core.alert_settings import AlertSettings

    settings = AlertSettings.from_env({
        "ALERT_WEBHOOK_URLS": http_receiver.url,
        "ALERT_SIGNING_SECRET": "whsec-test-secret",
        "SMTP_URL": smtp_receiver.url,
        "ALERT_EMAILS": "ops@example.test,oncall@example.test",
        "ALERT_DIGEST_MINUTES": "15",
        "ALERT_RETRY_MIN_SECONDS": "0.05",
        "ALERT_RETRY_MAX_SECONDS": "0.2",
    })
    alert_settings.install(settings)
    yield settings
    alert_settings.install(None)
