"""scripts/local_secrets.py: make run's admin token and Fernet key, made once, kept private."""
from __future__ import annotations

import stat
from pathlib import Path

from cryptography.fernet import Fernet

from core.settings import Settings
from scripts.local_secrets import load_or_create, read_env_file


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_run_generates_secrets_the_service_accepts_in_a_private_file(tmp_path: Path) -> None:
    # Given no secrets file yet
    path = tmp_path / "var" / "secrets.env"

    # When make run loads its secrets
    secrets = load_or_create(path)

    # Then both are generated, saved with mode 0600 and valid for the service's settings
    assert mode_of(path) == 0o600
    assert read_env_file(path) == secrets
    Fernet(secrets["ENCRYPTION_KEY"])
    settings = Settings.from_env(secrets)
    assert settings.admin_token == secrets["ADMIN_TOKEN"]


def test_a_second_run_reuses_the_same_secrets_and_leaves_the_file_alone(tmp_path: Path) -> None:
    # Given a first run's secrets
    path = tmp_path / "secrets.env"
    first = load_or_create(path)
    written = path.read_bytes()

    # When make run starts again
    second = load_or_create(path)

    # Then nothing is regenerated: the token stays valid and old data stays readable
    assert second == first
    assert path.read_bytes() == written


def test_a_loosened_file_is_made_private_again(tmp_path: Path) -> None:
    # Given a secrets file someone made world-readable
    path = tmp_path / "secrets.env"
    first = load_or_create(path)
    path.chmod(0o644)

    # When it is loaded
    again = load_or_create(path)

    # Then its mode is 0600 again and its values are kept
    assert mode_of(path) == 0o600
    assert again == first


def test_a_missing_key_is_added_and_the_given_token_kept(tmp_path: Path) -> None:
    # Given a file that holds only an admin token the operator chose
    path = tmp_path / "secrets.env"
    path.write_text("ADMIN_TOKEN=operator-chosen-token-1234\n")

    # When it is loaded
    secrets = load_or_create(path)

    # Then the token is kept, a key is generated, and the file is private
    assert secrets["ADMIN_TOKEN"] == "operator-chosen-token-1234"
    Fernet(secrets["ENCRYPTION_KEY"])
    assert read_env_file(path) == secrets
    assert mode_of(path) == 0o600
