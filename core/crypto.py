"""Credentials at rest: JSON sealed with Fernet; several keys for rotation (MultiFernet).

``ENCRYPTION_KEY`` is a comma-separated list: the first key encrypts, every key decrypts, so a
new key can be put first, ``flask keys rotate`` re-encrypts every row, and the old key removed.
"""
from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from core.errors import ConfigError


class Vault:
    """Seals and opens the secret part of an integration."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        if not keys:
            raise ConfigError("ENCRYPTION_KEY is not set")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def seal(self, secrets: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(secrets, sort_keys=True).encode()).decode()

    def open(self, sealed: str | None) -> dict[str, Any]:
        if not sealed:
            return {}
        try:
            secrets: dict[str, Any] = json.loads(self._fernet.decrypt(sealed.encode()))
            return secrets
        except InvalidToken:
            raise ConfigError(
                "ENCRYPTION_KEY cannot decrypt stored credentials: keep the old key in the list"
            ) from None

    def rotate(self, sealed: str) -> str:
        """Re-encrypt with the first key (``flask keys rotate``)."""
        return self._fernet.rotate(sealed.encode()).decode()
