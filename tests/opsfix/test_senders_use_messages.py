"""Issue 12, "workers' own house": senders put messages on queues through ``workers.messages``
and never import the worker's entry point (``workers.actors``), at module level or inside a
function to dodge an import cycle; the outbox keeps its fixed message id."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import redis
from cryptography.fernet import Fernet

from tests.conftest import TEST_REDIS_URL

ROOT = Path(__file__).resolve().parents[2]
#: The senders issue 12 named; none may keep an import inside a function.
SENDERS = ["workers/outbox.py", "workers/scheduler.py", "workers/replay.py"]


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module imported, inside a function) for every import statement of ``path``."""
    tree = ast.parse(path.read_text())
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.ImportFrom) and child.module:
                found.extend([(child.module, inner)] + [(f"{child.module}.{a.name}", inner) for a in child.names])
            elif isinstance(child, ast.Import):
                found.extend((a.name, inner) for a in child.names)
            visit(child, inner)
    visit(tree, False)
    return found


def test_nothing_but_the_entry_point_imports_workers_actors() -> None:
    offenders = [str(path.relative_to(ROOT)) for folder in ("workers", "webhooks", "core", "providers")
                 for path in (ROOT / folder).rglob("*.py") if path.name != "actors.py" or path.parent.name != "workers"
                 if any(name == "workers.actors" for name, _ in _imports(path))]
    assert offenders == []


def test_the_senders_keep_no_function_level_import() -> None:
    nested = {path: [name for name, inner in _imports(ROOT / path) if inner] for path in SENDERS}
    assert nested == {path: [] for path in SENDERS}


SCRIPT = """
import json, sys
from core.runtime import runtime
from workers import outbox
sent = outbox.send_prepared(runtime(), sys.argv[1], sys.argv[2])
print(json.dumps({"sent": sent, "actors_loaded": "workers.actors" in sys.modules}))
"""


def test_the_outbox_sends_under_its_fixed_message_id_without_loading_the_worker(tmp_path: Any) -> None:
    # Given a fresh process of the web side (no worker module loaded), Redis reachable
    event_id, message_id = uuid.uuid4().hex, uuid.uuid4().hex
    env = {**os.environ, "REDIS_URL": TEST_REDIS_URL, "ADMIN_TOKEN": "t" * 32,
           "ENCRYPTION_KEY": Fernet.generate_key().decode(), "DATABASE_URL": f"sqlite:///{tmp_path}/app.db"}
    # When the outbox hands an event to the broker
    done = subprocess.run([sys.executable, "-c", SCRIPT, event_id, message_id], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    # Then it went to the sync queue under the id chosen before the commit, for sync_event
    client = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        stored = client.hget("dramatiq:sync.msgs", message_id)
        assert answer == {"sent": True, "actors_loaded": False}
        assert stored is not None
        message = json.loads(stored)
        assert (message["actor_name"], message["args"]) == ("sync_event", [event_id])
    finally:
        client.hdel("dramatiq:sync.msgs", message_id)
        client.lrem("dramatiq:sync", 0, message_id)
