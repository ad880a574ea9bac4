"""Fixtures of the reliability suite: a private Redis the test may stop, restart and flush, real
worker processes it may SIGKILL, and the outbox relay ticking in the test process.

Why a private Redis: a test must be free to kill it without breaking every other suite, which
shares db 15 of the session Redis. Each test gets its own ``redis-server`` on a free port,
``--save "" --appendonly no`` so that a restart loses everything, as a Redis without
persistence does (the fault the issue names).

How the test process reaches it. ``workers.broker`` builds the process's broker once, from the
settings (``init``), usually long before this suite runs. Re-pointing that broker's
``client`` would leave its registered Lua scripts and connection pool behind, so instead
``broker_on`` builds a complete new broker with the production ``make_broker(url)`` and moves
every declared actor to it: ``dramatiq.set_broker`` for actors declared later, ``actor.broker``
for the ones already declared (``Actor.send`` enqueues through ``self.broker``), and the module
attribute ``workers.broker.broker`` that ``tests.support.RunningWorker`` reads. The old broker is
put back afterwards, so the suites that follow still use the session Redis.

Both brokers. A test parametrised with ``BOTH_BROKERS`` runs once with its queues on the private
Redis and once on RabbitMQ (``BROKER_URL=amqp://…`` in a private vhost: ``rabbitmq_server``),
where Redis keeps only locks, limiters and caches; the others run on Redis alone. Where no
RabbitMQ answers, the RabbitMQ runs skip loudly, or fail with ``REQUIRE_RABBITMQ=1`` (CI).

Worker processes run ``dramatiq workers.actors`` exactly as the Procfile does, with the same
environment as the test's runtime (database file, private Redis, broker URL, keys, shortened
lock TTL).
They are started in a session of their own so that a SIGKILL of the group kills the dramatiq
parent and its forked worker together (killing only the parent would leave the child working).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import redis

from tests.conftest import make_env, migrate
from tests.reliability import rabbitmq_server
from tests.reliability.rabbitmq_server import RabbitmqServer
from tests.support import wait_for

ROOT = Path(__file__).resolve().parents[2]
#: Seconds a test waits for a started process or Redis to answer.
START_TIMEOUT = 20.0
#: The organisation lock's TTL and the event lease in this suite: short, so that a killed
#: worker's event is taken back within seconds (production: 120 s).
LOCK_TTL_SECONDS = 3.0
#: How often the relay runs in the test process (the scheduler: every second).
RELAY_INTERVAL = 0.1
#: Shortened outbox re-send bound (production: 30 s, ``workers.outbox.RESEND_AFTER_SECONDS``).
RESEND_AFTER_SECONDS = 1.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateRedis:
    """A ``redis-server`` of this test alone, without persistence: a restart empties it."""

    def __init__(self, workdir: Path) -> None:
        from scripts.local_redis import redis_binary

        self.binary = redis_binary()
        self.port = free_port()
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "PrivateRedis":
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir), "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = self.client()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        """Kill it (SIGKILL: a crash, nothing written)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        """Come back empty on the same port, as a Redis restarted without persistence does."""
        self.stop()
        self.start()

    def flush(self) -> None:
        self.client().flushall()

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=5)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path).start()
    yield server
    server.stop()


#: ``@BOTH_BROKERS`` on a test: run it with its queues on Redis, then on RabbitMQ.
BOTH_BROKERS = pytest.mark.parametrize("broker_kind", ["redis", "rabbitmq"])


@pytest.fixture
def broker_kind() -> str:
    """Where the test's queues live; Redis unless the test is parametrised (``BOTH_BROKERS``)."""
    return "redis"


@pytest.fixture(scope="session")
def rabbitmq() -> Iterator[RabbitmqServer]:
    """The machine's RabbitMQ with a vhost for this run (``tests/reliability/rabbitmq_server.py``)."""
    server = rabbitmq_server.start()
    yield server
    rabbitmq_server.stop(server)


@pytest.fixture
def broker_url(broker_kind: str, private_redis: PrivateRedis, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of the test's queues: the private Redis, or RabbitMQ with its queues emptied
    (deleted) before and after the test."""
    if broker_kind == "redis":
        yield private_redis.url
        return
    server: RabbitmqServer = request.getfixturevalue("rabbitmq")
    server.delete_queues()
    yield server.url
    server.delete_queues()


@contextmanager
def broker_at(url: str, redis_url: str | None = None) -> Iterator[Any]:
    """Every declared actor moved to a new production broker on ``url`` (module docstring),
    and back to the old one afterwards; a RabbitMQ broker keeps its worker bookkeeping in
    ``redis_url``."""
    import dramatiq

    import workers.broker as broker_module
    from core.settings import Settings

    if "broker" not in vars(broker_module):  # the first test of the session: the shared one
        broker_module.init(Settings.from_env(make_env("sqlite://")))
    import workers.actors  # noqa: F401 - declares the actors on the current broker

    old = broker_module.broker
    new = broker_module.make_broker(url, redis_url=redis_url)
    for actor in list(old.actors.values()):
        actor.broker = new
        new.declare_actor(actor)
    dramatiq.set_broker(new)
    broker_module.broker = new
    try:
        yield new
    finally:
        for actor in list(old.actors.values()):
            actor.broker = old
        dramatiq.set_broker(old)
        broker_module.broker = old
        new.close()


@pytest.fixture
def broker_on(broker_url: str, private_redis: PrivateRedis) -> Iterator[Any]:
    """The broker of the test process, on the test's broker (module docstring)."""
    with broker_at(broker_url, private_redis.url) as broker:
        yield broker


@pytest.fixture
def service_env(tmp_path: Path, private_redis: PrivateRedis, broker_kind: str, broker_url: str) -> dict[str, str]:
    """The environment shared by the test's runtime and its worker processes."""
    # On RabbitMQ the queues go there (BROKER_URL); Redis keeps the rest (REDIS_URL). Empty:
    # the queues on Redis, whatever the environment the suite runs in says.
    return make_env(
        f"sqlite:///{tmp_path}/app.db", REDIS_URL=private_redis.url,
        BROKER_URL=broker_url if broker_kind == "rabbitmq" else "",
        LOCK_TTL_SECONDS=str(LOCK_TTL_SECONDS), RETRY_MIN_SECONDS="0.2", RETRY_MAX_SECONDS="1",
        # One call must fit in the short TTL after its fencing check, or a worker refuses to
        # start (core.locks.check_budget).
        HTTP_CONNECT_TIMEOUT_SECONDS="0.5", HTTP_READ_TIMEOUT_SECONDS="2",
    )


@pytest.fixture
def rt(service_env: dict[str, str], broker_on: Any) -> Iterator[Any]:
    """The runtime of the test process (web side and relay), overriding the shared one."""
    from core import runtime as runtime_module
    from core.runtime import Runtime
    from core.settings import Settings

    settings = Settings.from_env(service_env)
    migrate(settings.database_url)
    runtime = Runtime.from_settings(settings)
    runtime_module.install(runtime)
    yield runtime
    runtime_module.install(None)
    runtime.close()


class WorkerProcess:
    """``dramatiq workers.actors`` in a process group of its own (Procfile ``worker:``)."""

    def __init__(self, env: dict[str, str], log_path: Path, *, threads: int = 4) -> None:
        self.env = {**os.environ, **env, "dramatiq_worker_timeout": "100", "PYTHONPATH": str(ROOT)}
        self.log_path = log_path
        self.threads = threads
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "WorkerProcess":
        dramatiq_cli = str(Path(sys.executable).with_name("dramatiq"))
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [dramatiq_cli, "workers.actors", "--processes", "1", "--threads", str(self.threads)],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        return self

    def kill(self) -> None:
        """SIGKILL the dramatiq parent and its forked worker at once (no clean shutdown)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            self.kill()
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


class WorkerPool:
    """Worker processes of one test: started on demand, all stopped at its end."""

    def __init__(self, env: dict[str, str], tmp_path: Path, redis_server: PrivateRedis) -> None:
        self.env = env
        self.tmp_path = tmp_path
        self.redis = redis_server
        self.started: list[WorkerProcess] = []

    def start(self, count: int = 1, *, threads: int = 4, wait: bool = True) -> list[WorkerProcess]:
        before = self._heartbeats()
        new = [
            WorkerProcess(self.env, self.tmp_path / f"worker{len(self.started) + i}.log", threads=threads).start()
            for i in range(count)
        ]
        self.started += new
        if wait:
            self._wait_consuming(before, count, new)
        return new

    def _heartbeats(self) -> set[bytes]:
        try:
            return set(self.redis.client().zrange("dramatiq:__heartbeats__", 0, -1))
        except redis.RedisError:
            return set()

    def _wait_consuming(self, before: set[bytes], count: int, new: list[WorkerProcess]) -> None:
        """Each started worker heartbeats in Redis once it consumes (dramatiq's dispatch.lua; on
        RabbitMQ, ``workers.broker_rabbitmq.WorkerBookkeeping``, once its consumers started)."""
        deadline = time.monotonic() + START_TIMEOUT
        while len(self._heartbeats() - before) < count:
            for worker in new:
                if worker.process is not None and worker.process.poll() is not None:
                    raise AssertionError(f"worker exited:\n{worker.log()}")
            if time.monotonic() > deadline:
                raise AssertionError("workers did not start:\n" + "\n".join(w.log() for w in new))
            time.sleep(0.05)

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()


@pytest.fixture
def worker_pool(service_env: dict[str, str], tmp_path: Path, private_redis: PrivateRedis, rt: Any) -> Iterator[WorkerPool]:
    pool = WorkerPool(service_env, tmp_path, private_redis)
    yield pool
    pool.stop_all()


class Relay:
    """The outbox relay ticking in the test process, as the scheduler runs it (every second)."""

    def __init__(self, rt: Any, interval: float = RELAY_INTERVAL) -> None:
        self.rt = rt
        self.interval = interval
        self.totals = {"recovered": 0, "lost": 0, "sent": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.paused = threading.Event()

    def _loop(self) -> None:
        from workers.outbox import relay_once

        while not self._stop.wait(self.interval):
            if self.paused.is_set():
                continue
            try:
                for key, value in relay_once(self.rt).items():
                    self.totals[key] += value
            except Exception:  # Redis stopped by the test: the next tick tries again
                pass

    def start(self) -> "Relay":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@pytest.fixture
def relay(rt: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Relay]:
    import workers.outbox

    monkeypatch.setattr(workers.outbox, "RESEND_AFTER_SECONDS", RESEND_AFTER_SECONDS)
    running = Relay(rt).start()
    yield running
    running.stop()


def wait_until(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.1, what: str = "") -> Any:
    """``tests.support.wait_for`` at this suite's pace."""
    return wait_for(predicate, timeout=timeout, interval=interval, what=what)


@pytest.fixture
def redis_proxy(private_redis: PrivateRedis) -> Iterator[Any]:
    """A TCP proxy in front of the private Redis that can drop or delay chosen replies."""
    from tests.tcp_proxy import TcpProxy

    proxy = TcpProxy(private_redis.port).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def proxied_workers(service_env: dict[str, str], tmp_path: Path, private_redis: PrivateRedis,
                    redis_proxy: Any, rt: Any) -> Iterator[WorkerPool]:
    """Worker processes whose Redis connections all go through ``redis_proxy``."""
    pool = WorkerPool({**service_env, "REDIS_URL": redis_proxy.url}, tmp_path, private_redis)
    yield pool
    pool.stop_all()
