"""``BROKER_URL`` picks the broker: RabbitMQ for ``amqp(s)://``, Redis otherwise, and a URL of
any other scheme stops the process with one line that shows no password."""
from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.settings import Settings
from tests.conftest import TEST_REDIS_URL, make_env
from workers.broker import OutboxRedisBroker, make_broker
from workers.broker_rabbitmq import OutboxRabbitmqBroker


def test_no_broker_url_keeps_the_queues_on_redis() -> None:
    settings = Settings.from_env(make_env("sqlite://"))
    assert settings.broker_url == ""
    broker = make_broker(settings.broker_url or settings.redis_url)
    assert isinstance(broker, OutboxRedisBroker)
    broker.close()


def test_an_amqp_url_builds_the_rabbitmq_broker_without_connecting_yet() -> None:
    # Nothing listens on port 1: building the broker opens no connection (the first send does).
    broker = make_broker("amqp://guest:guest@127.0.0.1:1/", redis_url=TEST_REDIS_URL)
    assert isinstance(broker, OutboxRabbitmqBroker)
    assert {"sync", "bulk", "alerts"} <= broker.get_declared_queues()
    assert broker.confirm_delivery


@pytest.mark.parametrize("url", ["amqp://u:p@rabbit:5672/vh", "amqps://rabbit/", "redis://127.0.0.1:6379/2"])
def test_broker_url_accepts_rabbitmq_and_redis_urls(url: str) -> None:
    assert Settings.from_env(make_env("sqlite://", BROKER_URL=url)).broker_url == url


@pytest.mark.parametrize("url", ["http://user:secret@rabbit/", "user:secret@rabbit:5672"])
def test_another_scheme_is_one_line_naming_the_variable_and_no_secret(url: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(make_env("sqlite://", BROKER_URL=url))
    message = str(raised.value)
    assert message.startswith("BROKER_URL must be an amqp(s):// (RabbitMQ) or redis(s):// URL")
    assert "\n" not in message and "secret" not in message
