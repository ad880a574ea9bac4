"""Benchmark: what one send costs the webhook, on Redis and on RabbitMQ (``BROKER_URL``).

    python -m bench.broker_send [--sends 500]

Times ``enqueue`` of the outbox's message (its id chosen beforehand, as the webhook does) on the
production brokers (``workers.broker.make_broker``), one after another from one thread. Redis:
``BENCH_REDIS_URL`` or a private ``redis-server`` (``bench.common``). RabbitMQ:
``BENCH_RABBITMQ_URL`` (default ``amqp://guest:guest@127.0.0.1:5672/``) in a private vhost made
with ``rabbitmqctl`` for the run and deleted after it. On RabbitMQ each send waits for the
publisher confirm of a persistent message: that wait is the difference.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import time
import uuid
from urllib.parse import quote, urlsplit, urlunsplit

from bench.common import emit, flush_bench_redis, redis_url
from workers import messages
from workers.broker import make_broker

RABBITMQ_URL = os.environ.get("BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


def timed_sends(url: str, sends: int) -> list[float]:
    """Milliseconds of each of ``sends`` sends on the broker at ``url``, sorted."""
    broker = make_broker(url, redis_url=redis_url())
    try:
        broker.enqueue(messages.message(messages.SYNC_EVENT, "warm-up", message_id=uuid.uuid4().hex))
        took = []
        for index in range(sends):
            message = messages.message(messages.SYNC_EVENT, f"event-{index}", message_id=uuid.uuid4().hex)
            started = time.perf_counter()
            broker.enqueue(message)
            took.append((time.perf_counter() - started) * 1000)
        return sorted(took)
    finally:
        broker.close()


def private_vhost() -> tuple[str, str]:
    vhost = f"crms-bench-{uuid.uuid4().hex[:8]}"
    user = urlsplit(RABBITMQ_URL).username or "guest"
    for command in (["add_vhost", vhost], ["set_permissions", "-p", vhost, user, ".*", ".*", ".*"]):
        subprocess.run(["rabbitmqctl", "--quiet", *command], check=True, capture_output=True, timeout=60)
    parts = urlsplit(RABBITMQ_URL)
    return vhost, urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), parts.query, ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=500)
    args = parser.parse_args()
    flush_bench_redis()
    on_redis = timed_sends(redis_url(), args.sends)
    flush_bench_redis()
    vhost, url = private_vhost()
    try:
        on_rabbitmq = timed_sends(url, args.sends)
    finally:
        subprocess.run(["rabbitmqctl", "--quiet", "delete_vhost", vhost], capture_output=True, timeout=60)
    for name, took in (("redis", on_redis), ("rabbitmq", on_rabbitmq)):
        for label, rank in (("p50", 0.50), ("p99", 0.99)):
            emit(f"broker_send_{name}_{label}", round(took[int(rank * (len(took) - 1))], 3), unit="ms",
                 target="none (the cost a send adds to each webhook)")


if __name__ == "__main__":
    main()
