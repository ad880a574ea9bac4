"""What the ops page's workers view needs to know about each worker process, beside the
heartbeat Dramatiq keeps itself (``<ns>:__heartbeats__``, scored by the time of the process's
last fetch): its host, pid, queues and threads, written once when the worker boots.

A middleware, so every process of ``dramatiq workers.actors --processes N`` writes its own.
"""
from __future__ import annotations

import json
import os
import socket
import time
from typing import cast

import dramatiq
import structlog
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Middleware

from workers.broker import NAMESPACE

log = structlog.get_logger(__name__)

#: The record outlives any worker that died without cleaning up by a day, then expires.
INFO_TTL_SECONDS = 24 * 3600


def info_key(broker_id: str) -> str:
    return f"{NAMESPACE}:ops:worker:{broker_id}"


def _redis(broker: dramatiq.Broker) -> RedisBroker:
    # Dramatiq's hooks name any broker; this middleware is only ever added to ours (below).
    return cast(RedisBroker, broker)


class WorkerInfo(Middleware):
    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        queues = sorted(worker.consumer_whitelist or
                        {q for q in broker.get_declared_queues() if not q.endswith((".DQ", ".XQ"))})
        info = {"host": socket.gethostname(), "pid": os.getpid(), "queues": queues,
                "threads": worker.worker_threads, "started_at": time.time()}
        try:
            ours = _redis(broker)
            ours.client.set(info_key(ours.broker_id), json.dumps(info), ex=INFO_TTL_SECONDS)
        except Exception as error:  # noqa: BLE001 - Redis down at boot: the view shows "unknown"
            log.warning("worker info not recorded", error=type(error).__name__)

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        try:
            ours = _redis(broker)
            ours.client.delete(info_key(ours.broker_id))
        except Exception:  # noqa: BLE001 - best effort; the record expires anyway
            pass

