"""The lifecycle state machine (``tests/pipeline/lifecycle.py``), bounded for ``make test``.

A few runs of a dozen steps over the three systems at once, against real worker processes
(``tests/pipeline/worker_processes.py``) that the kill step SIGKILLs; ``bench/pipeline_property.py``
runs the long profile and reports steps run and violations found.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.conftest import migrate
from tests.pipeline.lifecycle import World, build
from tests.pipeline.worker_processes import Workers, lifecycle_env

BOUNDED = settings(
    max_examples=8, stateful_step_count=20, deadline=None, database=None,
    suppress_health_check=list(HealthCheck), phases=[Phase.generate],
)


@pytest.fixture
def env(tmp_path: Path, redis_client: Any) -> dict[str, str]:
    """One set of settings for this test's runtime and its worker processes (same database
    file, Redis, encryption key, short lock TTL)."""
    return lifecycle_env(f"sqlite:///{tmp_path}/app.db")


@pytest.fixture
def rt(env: dict[str, str]) -> Iterator[Any]:
    """The test process's runtime (webhooks, relay) on ``env``: the worker processes share it."""
    from core import runtime as runtime_module
    from core.runtime import Runtime
    from core.settings import Settings

    settings_ = Settings.from_env(env)
    migrate(settings_.database_url)
    runtime = Runtime.from_settings(settings_)
    runtime_module.install(runtime)
    yield runtime
    runtime_module.install(None)
    runtime.close()


def test_the_lifecycle_keeps_its_invariants_over_all_three_systems(
    rt: Any, env: dict[str, str], client: Any, admin: Any, sandbox: Any, tmp_path: Path,
) -> None:
    with Workers(rt, env, tmp_path) as workers:
        world = World(rt=rt, client=client, admin=admin, sandbox=sandbox, workers=workers)
        try:
            run_state_machine_as_test(build(world), settings=BOUNDED)
        except BaseException:
            print(f"worker log (last lines):\n{workers.log()}")
            raise
    # The runs did real work: steps taken and events sent through the whole pipeline, and
    # worker processes were killed (with high odds, mid-call) and locks expired along the way.
    stats = world.stats
    assert stats["steps"] >= 20 and stats["events"] >= 5, stats
    assert stats["kills"] >= 1 and stats["locks_expired"] >= 1, stats
    print(f"lifecycle: {stats}")
