"""Development signing secrets, created once per data dir and reused on every start.

Reusing them keeps browser sessions valid across restarts of `authara dev`. The file is
written with mode 0600 because anyone who reads it can mint access tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from authara_contract.tokens import MIN_KEY_BYTES, KeyConfigError, parse_jwt_keys

SECRETS_FILE: Final = "secrets.json"
_FILE_MODE: Final = 0o600


class DevSecretsError(RuntimeError):
    """The secrets file exists but cannot be used."""


@dataclass(frozen=True, slots=True)
class DevSecrets:
    """One HS256 signing key and its `kid`."""

    kid: str
    key_b64: str

    @property
    def jwt_keys(self) -> str:
        """Return the value for AUTHARA_JWT_KEYS (`kid:base64`)."""
        return f"{self.kid}:{self.key_b64}"

    @property
    def webhook_secret(self) -> str:
        """Return the dev AUTHARA_WEBHOOK_SECRET (core signs with it, the demo verifies).

        Derived from the signing key, so it is as private, stays the same across restarts and
        needs nothing more in the secrets file: 64 hex characters.
        """
        key = base64.b64decode(self.key_b64)
        return hmac.new(key, b"authara dev webhook secret", hashlib.sha256).hexdigest()


def generate_secrets() -> DevSecrets:
    """Make a fresh key id and a key of MIN_KEY_BYTES random bytes."""
    return DevSecrets(
        kid=f"dev-{secrets.token_hex(4)}",
        key_b64=base64.b64encode(secrets.token_bytes(MIN_KEY_BYTES)).decode("ascii"),
    )


def load_or_create_secrets(data_dir: Path) -> DevSecrets:
    """Read `<data_dir>/secrets.json`, creating it (mode 0600) on the first start."""
    path = data_dir / SECRETS_FILE
    if path.exists():
        return _read(path)
    created = generate_secrets()
    payload = json.dumps({"jwt_kid": created.kid, "jwt_key": created.key_b64}, indent=2)
    # O_EXCL: never follow or overwrite a file that appeared in the meantime.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(payload + "\n")
    return created


def _read(path: Path) -> DevSecrets:
    if path.stat().st_mode & 0o077:
        path.chmod(_FILE_MODE)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        loaded = DevSecrets(kid=str(data["jwt_kid"]), key_b64=str(data["jwt_key"]))
        parse_jwt_keys(loaded.jwt_keys)
    except (ValueError, KeyError, TypeError, KeyConfigError) as exc:
        raise DevSecretsError(f"{path} is not a valid secrets file ({exc}); delete it") from exc
    return loaded
