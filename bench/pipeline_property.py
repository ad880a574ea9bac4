"""The lifecycle property test's long profile: many runs, many steps, violations counted.

    python -m bench.pipeline_property [--examples 30] [--steps 40]

The same state machine as ``tests/pipeline/test_lifecycle_property.py`` (webhooks, replays,
people's edits, lost answers, 5xx, 429, worker processes SIGKILLed mid-call and locks expiring
mid-call, over Xero, QuickBooks and Sage at once), on its own real parts: the sandbox's
stand-ins on 127.0.0.1, a private redis-server (``bench.common``), a migrated SQLite database
and real ``dramatiq workers.actors`` processes (``tests/pipeline/worker_processes.py``). Each
run is checked against the invariants; a failing run is counted as a violation (with its
message) and the next one starts. Prints ``BENCH-RESULT`` lines: runs, steps run, kills,
violations (target 0).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench.common import ADMIN_TOKEN, ROOT, emit, flush_bench_redis, redis_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=30)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args(argv)

    os.environ["REDIS_URL"] = redis_url()  # before the broker is built on first import
    sys.path.insert(0, str(ROOT))
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis.stateful import run_state_machine_as_test

    from core import runtime as runtime_module
    from core.runtime import Runtime
    from core.settings import Settings
    from sandbox import current_rms, quickbooks, sage, xero
    from sandbox.runner import ServerThread
    from tests.conftest import Sandbox, migrate
    from tests.pipeline.lifecycle import World, build
    from tests.pipeline.worker_processes import Workers, lifecycle_env
    from webhooks import create_app

    flush_bench_redis()
    folder = tempfile.mkdtemp(prefix="pipeline-property-")
    # One set of settings for this process and its worker processes (database file, Redis,
    # encryption key, short lock TTL).
    env = lifecycle_env(f"sqlite:///{folder}/app.db", REDIS_URL=redis_url(), ADMIN_TOKEN=ADMIN_TOKEN)
    settings_ = Settings.from_env(env)
    migrate(settings_.database_url)
    rt = Runtime.from_settings(settings_)
    runtime_module.install(rt)
    servers = {name: ServerThread(module.create_app()).start()
               for name, module in (("current_rms", current_rms), ("xero", xero),
                                    ("quickbooks", quickbooks), ("sage", sage))}
    sandbox = Sandbox(**{name: server.url for name, server in servers.items()})
    app = create_app({"TESTING": True}, rt=rt)
    workers = Workers(rt, env, Path(folder)).__enter__()
    world = World(rt=rt, client=app.test_client(),
                  admin={"Authorization": f"Bearer {ADMIN_TOKEN}"}, sandbox=sandbox, workers=workers)
    violations: list[str] = []
    harness: list[str] = []  # a failure of the test's own machinery, not of an invariant
    started = time.monotonic()
    try:
        # One hypothesis search over the runs left; a violation ends that search (no shrinking:
        # generate only), is counted, and a new search takes the remaining runs.
        while world.stats["runs"] < args.examples:
            sandbox.reset()
            profile = settings(max_examples=args.examples - world.stats["runs"], database=None,
                               stateful_step_count=args.steps, deadline=None,
                               suppress_health_check=list(HealthCheck), phases=[Phase.generate])
            try:
                run_state_machine_as_test(build(world), settings=profile)
            except Exception as failure:  # noqa: BLE001 - counted and reported, then go on
                found = _assertion(failure)
                if found is None:
                    harness.append(f"{type(failure).__name__}: {str(failure).splitlines()[0][:300]}")
                    print(f"after run {world.stats['runs']}: HARNESS ERROR {harness[-1]}", flush=True)
                else:
                    violations.append(str(found).splitlines()[0][:300])
                    print(f"after run {world.stats['runs']}: VIOLATION {violations[-1]}", flush=True)
                    # The steps that led there (hypothesis notes them on the failure).
                    print("\n".join(traceback.format_exception(failure))[-6000:], flush=True)
            print(f"so far: {world.stats}", flush=True)
    finally:
        workers.__exit__(None, None, None)
        for server in servers.values():
            server.stop()
        runtime_module.install(None)
        rt.close()
    seconds = time.monotonic() - started
    stats = world.stats
    note = (f"{stats['runs']} runs, {stats['steps']} steps, {stats['events']} webhook events, "
            f"{stats['kills']} worker kills ({stats['kills_mid_call']} mid-call), "
            f"{stats['locks_expired']} lock expiries ({stats['locks_expired_mid_call']} mid-call) "
            f"in {seconds:.0f} s")
    emit("pipeline_property_steps", stats["steps"], unit="steps", target="-", note=note)
    emit("pipeline_property_kills", stats["kills"], unit="SIGKILLs", target="-",
         note=f"{stats['kills_mid_call']} with a write in flight")
    emit("pipeline_property_violations", len(violations), unit="violations", target="0",
         met=not violations, note="; ".join(violations[:3]))
    if harness:
        print(f"harness errors (not violations): {harness}", flush=True)
    return 1 if violations or harness else 0


def _assertion(failure: BaseException) -> AssertionError | None:
    """The invariant that failed, inside hypothesis' wrapping (exception groups), if any."""
    if isinstance(failure, AssertionError):
        return failure
    for inner in getattr(failure, "exceptions", ()):
        found = _assertion(inner)
        if found is not None:
            return found
    return None


if __name__ == "__main__":
    raise SystemExit(main())
