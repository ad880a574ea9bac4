"""``crms-link``: the operator's command line, installed into ``.venv/bin`` by ``make install``.

It is the Flask app's own command groups (``events``, ``integrations``, ``keys``, ``links``,
``bulk``) behind one name, so a person needs neither ``--app`` nor a sourced environment:

- ``var/secrets.env`` (written by ``make run``) is read when present, and ``make run``'s database
  (``var/app.db``) is the default, so every command works right after ``make run``;
- what the environment already sets always wins, as in production;
- a missing or malformed setting prints one line naming the variable and exits 2.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Sequence

import click

from core.errors import ConfigError

#: The checkout this module belongs to; ``var/`` beside the code is where ``make run`` keeps state.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
#: Exit status for a refused setting (as for any usage error of a command line).
CONFIG_EXIT_STATUS = 2


def local_run_variables(var_dir: Path) -> dict[str, str]:
    """What ``make run`` gives its own processes: the generated secrets and its SQLite file."""
    variables: dict[str, str] = {}
    secrets_file = var_dir / "secrets.env"
    if secrets_file.exists():
        for line in secrets_file.read_text().splitlines():
            name, sep, value = line.strip().partition("=")
            if sep and name and not name.startswith("#"):
                variables[name.strip()] = value.strip()
    if (var_dir / "app.db").exists():
        variables["DATABASE_URL"] = f"sqlite:///{var_dir / 'app.db'}"
    return variables


def apply_local_run(environ: dict[str, str] | os._Environ[str]) -> None:
    var_dir = Path(environ.get("VAR_DIR") or PROJECT_ROOT / "var")
    for name, value in local_run_variables(var_dir).items():
        if not environ.get(name):
            environ[name] = value


def main(argv: Sequence[str] | None = None) -> int:
    apply_local_run(os.environ)
    from webhooks import create_app  # after the environment is complete: it reads it once

    try:
        app = create_app()
    except ConfigError as error:
        print(f"crms-link: {error}", file=sys.stderr)
        return CONFIG_EXIT_STATUS
    group = click.Group(
        "crms-link",
        commands=dict(app.cli.commands),
        help="Operate the service: events, integrations, keys, links and bulk jobs.",
    )
    with app.app_context():
        try:
            group.main(args=list(argv) if argv is not None else None, prog_name="crms-link", standalone_mode=False)
        except click.exceptions.Abort:
            click.echo("Aborted!", err=True)
            return 1
        except click.ClickException as error:
            error.show()
            return error.exit_code
        except click.exceptions.Exit as done:
            return done.exit_code
    return 0


if __name__ == "__main__":  # pragma: no cover - the console script calls main()
    sys.exit(main())
