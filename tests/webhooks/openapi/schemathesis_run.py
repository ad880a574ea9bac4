"""Schemathesis against the running app on loopback: ``python -m tests.webhooks.openapi.schemathesis_run``.

Serves the app (a fresh SQLite database under a temporary folder, the Redis of ``TEST_REDIS_URL``)
and the sandbox's rental system and Xero on 127.0.0.1, creates one integration through the API
and an organisation, then runs ``schemathesis run`` on ``/api/openapi.json`` with that
integration's id and the organisation's id as path parameters, a bounded number of examples per
operation and a fixed seed. Exits with Schemathesis's status: 0 only when nothing failed.
Extra arguments are passed to ``schemathesis run`` (e.g. ``--max-examples 50``).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[3]
MAX_EXAMPLES = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "10")
SEED = os.environ.get("SCHEMATHESIS_SEED", "16")
CONFIG = """
[parameters]
"path.integration_id" = "${ST_INTEGRATION_ID}"
"path.organisation_id" = "${ST_ORGANISATION_ID}"
"path.event_id" = "${ST_EVENT_ID}"
"path.job_id" = "${ST_JOB_ID}"

# Changing (random URLs and tokens) or deleting the integration every other operation uses would
# turn the rest into 503s and 404s: those two work on an integration of their own.
# DELETE asks the rental system to remove its webhooks: 503 with Retry-After when that system's
# rate limit has no room within about 2 s (documented), which repeated generated deletes meet.
[[operations]]
include-name = "DELETE /api/integrations/{integration_id}"
parameters = { "path.integration_id" = "${ST_DOOMED_INTEGRATION_ID}" }
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "503"]

[[operations]]
include-name = "PATCH /api/integrations/{integration_id}"
parameters = { "path.integration_id" = "${ST_DOOMED_INTEGRATION_ID}" }
# A custom field's target must be one of the integration's own accounting system (the document
# lists every system's targets, and the description says so): OpenAPI 3.0 cannot tie a value in
# `mapping` to `provider.kind`, or to the kind stored with the integration a PATCH changes.
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429", "5xx"]

[[operations]]
include-name = "POST /api/integrations"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429", "5xx"]

# 422 is the contract's answer for a contact id the accounting system does not have (interface §7);
# no schema can know which ids exist there.
[[operations]]
include-name = "PUT /api/integrations/{integration_id}/links/{organisation_id}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429", "5xx"]
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "503"]

# Operations that ask an accounting or rental system while answering answer 503 with Retry-After
# when its rate limit has no room within about 2 s (interface §7; documented as such): hundreds
# of generated searches in a minute meet the sandbox Xero's 60-a-minute limit.
[[operations]]
include-name = "GET /api/integrations/{integration_id}/contacts"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "503"]

[[operations]]
include-name = "POST /api/integrations/{integration_id}/links.csv"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "503"]

[[operations]]
include-name = "GET /api/integrations/{integration_id}/links.csv"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "503"]
"""


class _Sandbox:
    def __init__(self, current_rms: str, xero: str) -> None:
        self.current_rms, self.xero = current_rms, xero

    def control(self, system: str, path: str, **body: Any) -> Any:
        answer = requests.post(f"{getattr(self, system)}/_sandbox/{path}", json=body, timeout=5)
        answer.raise_for_status()
        return answer.json() if answer.content else None


def main(extra: list[str]) -> int:
    from cryptography.fernet import Fernet

    from core import runtime as runtime_module
    from core.runtime import Runtime
    from core.settings import Settings
    from sandbox import current_rms, xero
    from sandbox.runner import ServerThread
    from tests.support import integration_body, seed_organisation
    from webhooks import create_app

    folder = Path(tempfile.mkdtemp(prefix="schemathesis-"))
    servers = [ServerThread(current_rms.create_app()).start(), ServerThread(xero.create_app()).start()]
    try:
        sandbox = _Sandbox(servers[0].url, servers[1].url)
        admin_token = "schemathesis-admin-token-0123456789"
        settings = Settings.from_env({
            "ADMIN_TOKEN": admin_token, "ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "DATABASE_URL": f"sqlite:///{folder}/app.db",
            "REDIS_URL": os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
        })
        _migrate(settings.database_url)
        rt = Runtime.from_settings(settings)
        runtime_module.install(rt)
        app = ServerThread(create_app(rt=rt)).start()
        servers.append(app)
        headers = {"Authorization": f"Bearer {admin_token}"}
        body = integration_body(sandbox, "xero")
        integration = _post(f"{app.url}/api/integrations", headers, json=body)
        doomed = _post(f"{app.url}/api/integrations", headers, json=integration_body(sandbox, "xero"))
        member = seed_organisation(sandbox, body["source"]["subdomain"])
        webhook = integration["webhook_url"].replace(settings.public_url, app.url)
        event = _post(webhook, {}, json={"action": {"id": 1, "subject_id": member["id"],
                                                    "subject_type": "Member", "action_type": "update"}})
        job = _post(f"{app.url}/api/integrations/{integration['id']}/export", headers)
        config = folder / "schemathesis.toml"
        config.write_text(CONFIG)
        env = {**os.environ, "ST_INTEGRATION_ID": integration["id"], "ST_DOOMED_INTEGRATION_ID": doomed["id"],
               "ST_ORGANISATION_ID": str(member["id"]), "ST_EVENT_ID": event["event_id"],
               "ST_JOB_ID": job["job_id"]}
        command = [
            shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis",
            "--config-file", str(config), "run", f"{app.url}/api/openapi.json",
            "--header", f"Authorization: Bearer {admin_token}",
            "--checks", "all", "--max-examples", MAX_EXAMPLES, "--seed", SEED,
            "--generation-deterministic", "--workers", "1", "--no-color",
            "--request-timeout", "30", *extra,
        ]
        return subprocess.run(command, env=env, cwd=folder, timeout=900).returncode
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _post(url: str, headers: dict[str, str], **options: Any) -> Any:
    answer = requests.post(url, headers=headers, timeout=30, **options)
    answer.raise_for_status()
    return answer.json()


def _migrate(database_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    command.upgrade(config, "head")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
