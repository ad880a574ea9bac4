"""The RabbitMQ the reliability suite runs its second broker on, and the faults it can cause there.

The server is the machine's (``TEST_RABBITMQ_URL``, default ``amqp://guest:guest@127.0.0.1:5672/``;
``.ci/run`` starts or installs one). Each test run gets a private vhost of its own, made with
``rabbitmqctl add_vhost`` and deleted at the end, so the suite's fixed queue names (``sync``,
``bulk``) never meet another user's; each test starts and ends with those queues deleted.
Where ``rabbitmqctl`` cannot be used (not installed, or not allowed to reach the node), the
suite uses the URL's own vhost, and the tests that need ``rabbitmqctl`` skip loudly.

Where no RabbitMQ answers, the RabbitMQ half of the suite skips loudly, and fails instead with
``REQUIRE_RABBITMQ=1`` (CI).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import pika
import pika.exceptions
import pytest
from dramatiq.common import dq_name, xq_name

from workers.broker import ALERTS_QUEUE, BULK_QUEUE, SYNC_QUEUE

RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
#: Seconds a ``rabbitmqctl`` command may take (it starts an Erlang VM: 1 to 2 s each here).
CTL_TIMEOUT = 60.0
QUEUES = (SYNC_QUEUE, BULK_QUEUE, ALERTS_QUEUE)


def unavailable(reason: str) -> None:
    """Skip loudly, or fail where RabbitMQ is required (CI)."""
    if os.environ.get("REQUIRE_RABBITMQ") == "1":
        pytest.fail(f"REQUIRE_RABBITMQ=1 but {reason}")
    pytest.skip(f"SKIPPED LOUDLY: {reason}; CI (.ci/run) runs these on RabbitMQ")


def answers(url: str) -> str | None:
    """``None`` when an AMQP connection to ``url`` opens, else why not."""
    parameters = pika.URLParameters(url)
    parameters.socket_timeout = 2
    parameters.connection_attempts = 1
    try:
        pika.BlockingConnection(parameters).close()
        return None
    except pika.exceptions.AMQPError as error:
        return f"{type(error).__name__} {error}".strip()


def ctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["rabbitmqctl", "--quiet", *args], capture_output=True, text=True,
                          timeout=CTL_TIMEOUT, check=False)


def ctl_usable() -> bool:
    if shutil.which("rabbitmqctl") is None:
        return False
    try:
        return ctl("list_vhosts").returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def with_vhost(url: str, vhost: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), parts.query, ""))


@dataclass
class RabbitmqServer:
    url: str
    #: The private vhost, or ``None`` when the URL's own is used (no ``rabbitmqctl``).
    vhost: str | None

    def connection(self) -> pika.BlockingConnection:
        parameters = pika.URLParameters(self.url)
        parameters.socket_timeout = 5
        return pika.BlockingConnection(parameters)

    def delete_queues(self) -> None:
        """Delete every queue the service declares (and their delay and dead-letter queues)."""
        with self.connection() as connection:
            channel = connection.channel()
            for queue in QUEUES:
                for name in (queue, dq_name(queue), xq_name(queue)):
                    channel.queue_delete(queue=name)

    def ready(self, queue: str) -> int:
        """Messages ready in ``queue`` (0 when it does not exist)."""
        with self.connection() as connection:
            try:
                return int(connection.channel().queue_declare(queue=queue, passive=True).method.message_count)
            except pika.exceptions.ChannelClosedByBroker as error:
                if error.reply_code == 404:
                    return 0
                raise

    def close_all_connections(self) -> None:
        """Close every client connection of this run's vhost from the server's side, as a
        RabbitMQ restart does to its clients (``rabbitmqctl close_all_connections``)."""
        if self.vhost is None:
            pytest.skip("SKIPPED LOUDLY: closing RabbitMQ's connections needs rabbitmqctl, not usable here")
        done = ctl("close_all_connections", "--vhost", self.vhost, "--limit", "1000",
                   "reliability suite: the broker restarts")
        assert done.returncode == 0, done.stderr


def start() -> RabbitmqServer:
    """The run's RabbitMQ with its private vhost; skips loudly (or fails) where none answers."""
    why = answers(RABBITMQ_URL)
    if why is not None:
        unavailable(f"no RabbitMQ answers at {urlsplit(RABBITMQ_URL).hostname}:"
                    f"{urlsplit(RABBITMQ_URL).port or 5672} ({why})")
    if not ctl_usable():
        return RabbitmqServer(RABBITMQ_URL, None)
    vhost = f"crms-reliability-{uuid.uuid4().hex[:8]}"
    user = urlsplit(RABBITMQ_URL).username or "guest"
    for command in (("add_vhost", vhost), ("set_permissions", "-p", vhost, user, ".*", ".*", ".*")):
        done = ctl(*command)
        assert done.returncode == 0, f"rabbitmqctl {' '.join(command)}: {done.stderr}"
    return RabbitmqServer(with_vhost(RABBITMQ_URL, vhost), vhost)


def stop(server: RabbitmqServer) -> None:
    if server.vhost is not None:
        ctl("delete_vhost", server.vhost)
