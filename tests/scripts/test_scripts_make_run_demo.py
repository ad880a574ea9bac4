"""``make run``'s demo, as it runs: the sandbox as ``python -m sandbox`` starts it, the service
configured by ``scripts.dev_env`` over real HTTP, a real worker, the demo set up by
``scripts.dev.set_up_demo``.

- Web links open the sandbox's own pages (issue 16: "In the sandbox, the contact and
  organisation links point at the real sites"): the links API's ``url`` and the ops page's
  organisation link name the stand-ins, and each page answers 200 with the record's name.
- The demo integrations follow what is done in the sandbox's accounting systems (issue 14:
  "make run wires its demo integrations to them, and the README shows a merge being
  followed"): the README's walk-through runs, as written, through bash, and the link follows
  the merge through Xero's signed webhook.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import redis
import requests

from core import runtime as runtime_module
from core.runtime import Runtime
from core.settings import Settings
from sandbox.__main__ import _serve_own_pages, start_servers, stop_servers, urls_for, write_state
from sandbox.runner import ServerThread
from scripts import dev
from scripts.dev_env import build_env, service_url
from scripts.local_secrets import load_or_create
from tests.support import RunningWorker, wait_for

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
#: The README's merge walk-through follows this marker.
MERGE_MARKER = "<!-- readme-test: make-run-merge -->"
NAME = "The Festival Of Testing"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def local_run(tmp_path: Path, redis_url: str, redis_client: redis.Redis,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """What ``make run`` leaves running: the sandbox (its URLs in var/sandbox.json), the web
    process configured by ``build_env``, a worker, and the demo integrations."""
    var = tmp_path / "var"
    var.mkdir()
    servers = start_servers("127.0.0.1", 0)
    _serve_own_pages(servers)
    sandbox = {name: urls_for(name, server.url) for name, server in servers.items()}
    write_state(var / "sandbox.json", sandbox)
    port = free_port()
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PORT": str(port), "REDIS_URL": redis_url}
    env = build_env(base, var_dir=var, secrets=load_or_create(var / "secrets.env"),
                    bin_dir=Path(sys.executable).parent, sandbox=sandbox)
    # The web process reads the Intuit verifier token from its environment, as under honcho.
    monkeypatch.setenv("QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN", env["QUICKBOOKS_WEBHOOK_VERIFIER_TOKEN"])
    dev.run_migrations(env)
    from webhooks import create_app

    runtime = Runtime.from_settings(Settings.from_env(env))
    runtime_module.install(runtime)
    try:
        with ServerThread(create_app(rt=runtime), port=port), RunningWorker(runtime):
            state = dev.set_up_demo(env, sandbox, var / "demo.json")
            assert state is not None, "the demo integrations were not set up"
            yield {"env": env, "sandbox": sandbox, "state": state, "var": var, "runtime": runtime}
    finally:
        runtime_module.install(None)
        runtime.close()
        stop_servers(servers)


def api(run: dict[str, Any], path: str) -> Any:
    env = run["env"]
    response = requests.get(service_url(env) + path, timeout=10,
                            headers={"Authorization": f"Bearer {env['ADMIN_TOKEN']}"})
    assert response.status_code == 200, response.text
    return response.json() if "json" in response.headers.get("Content-Type", "") else response.text


def edit_demo_organisation(run: dict[str, Any]) -> None:
    """The banner's second curl: an edit in the rental stand-in, which calls every webhook."""
    rental = run["state"]["rental"]
    requests.post(f"{run['sandbox']['current_rms']['base_url']}/_sandbox/members/{rental['member_id']}/edit",
                  json={"subdomain": rental["subdomain"], "changes": {"name": f"{NAME} Ltd"}},
                  timeout=10).raise_for_status()


def linked(run: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    integration_id = run["state"]["integrations"][kind]["id"]
    return list(api(run, f"/api/integrations/{integration_id}/links")["links"])


def test_web_links_open_the_sandboxs_own_pages(local_run: dict[str, Any]) -> None:
    run = local_run
    # Given the demo organisation edited in the rental stand-in, so every demo integration
    # creates its contact
    edit_demo_organisation(run)
    for kind in ("xero", "quickbooks", "sage"):
        [link] = wait_for(lambda kind=kind: linked(run, kind), timeout=40, what=f"the {kind} link")

        # Then the contact's web link names the stand-in, and its page shows the contact
        base = run["sandbox"][kind]["base_url"]
        assert link["url"].startswith(base + "/"), (kind, link["url"])
        page = requests.get(link["url"], timeout=10)
        assert page.status_code == 200, (kind, link["url"], page.status_code)
        assert f"<h1>{NAME} Ltd</h1>" in page.text, (kind, page.text[:500])

    # And the ops page links the organisation to the rental stand-in's page, which shows it
    xero_id = run["state"]["integrations"]["xero"]["id"]
    [event] = [e for e in api(run, f"/api/events?integration={xero_id}")["events"] if e["status"] == "succeeded"][:1]
    html = api(run, f"/ops/events/{event['id']}")
    rental = run["sandbox"]["current_rms"]["base_url"]
    found = re.search(rf'href="({re.escape(rental)}/members/\d+)"', html)
    assert found, "the event page links no organisation page of the sandbox"
    page = requests.get(found.group(1), timeout=10)
    assert page.status_code == 200 and f"<h1>{NAME} Ltd</h1>" in page.text


def readme_merge_block() -> str:
    text = README.read_text()
    assert MERGE_MARKER in text, "the README shows no merge being followed under make run"
    after = text[text.index(MERGE_MARKER):]
    found = re.search(r"```sh\n(.*?)```", after, re.S)
    assert found, "no ```sh block after the merge marker"
    return found.group(1)


def test_the_readmes_merge_walk_through_runs_and_the_link_follows(local_run: dict[str, Any]) -> None:
    run = local_run
    # A clone's root as make run leaves it: .venv beside the code (here the interpreter's own
    # venv, linked, with this checkout's code on the path), var/ where VAR_DIR says.
    clone = run["var"].parent / "clone"
    clone.mkdir()
    (clone / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    env = {**os.environ, "VAR_DIR": str(run["var"]), "PORT": run["env"]["PORT"], "PYTHONPATH": str(ROOT)}
    env.pop("ADMIN_TOKEN", None)

    # When the reader pastes the README's walk-through into bash
    result = subprocess.run(["bash", "-e", "-c", readme_merge_block()], cwd=clone, env=env, capture_output=True,
                            text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"exited {result.returncode}:\n{result.stdout}\n{result.stderr}"

    # Then the Xero link follows the merge: it names the survivor, as the last event says
    [link] = linked(run, "xero")
    contacts = requests.get(f"{run['sandbox']['xero']['base_url']}/_sandbox/contacts", timeout=10,
                            params={"tenant": run["state"]["integrations"]["xero"]["tenant"]}).json()["Contacts"]
    merged = [c for c in contacts if c.get("MergedToContactID") not in (None, "", "00000000-0000-0000-0000-000000000000")]
    assert len(merged) == 1 and link["contact_id"] == merged[0]["MergedToContactID"], (link, merged)
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert last["source"] == "ledger" and last["outcome"]["action"] == "relinked", last
    assert last["outcome"]["contact_id"] == link["contact_id"]
    assert last["outcome"]["previous_contact_id"] == merged[0]["ContactID"]
