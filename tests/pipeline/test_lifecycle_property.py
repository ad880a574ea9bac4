"""The lifecycle state machine (``tests/pipeline/lifecycle.py``), bounded for ``make test``.

A few runs of a dozen steps over the three systems at once; ``bench/pipeline_property.py``
runs the long profile and reports steps run and violations found.
"""
from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.pipeline.lifecycle import World, build

BOUNDED = settings(
    max_examples=8, stateful_step_count=20, deadline=None, database=None,
    suppress_health_check=list(HealthCheck), phases=[Phase.generate],
)


def test_the_lifecycle_keeps_its_invariants_over_all_three_systems(
    rt: Any, client: Any, admin: Any, sandbox: Any,
) -> None:
    world = World(rt=rt, client=client, admin=admin, sandbox=sandbox)
    run_state_machine_as_test(build(world), settings=BOUNDED)
    # The runs did real work: steps taken and events sent through the whole pipeline.
    assert world.stats["steps"] >= 20 and world.stats["events"] >= 5, world.stats
