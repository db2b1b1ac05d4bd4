"""Email codes: six random digits, stored only as an HMAC under a JWT key.

The HMAC covers the challenge id as well as the code, so a stored hash says nothing about
any other challenge. Verification uses the key the code was made with (`key_id`), so codes
in flight survive a key rotation as long as the old key stays configured.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from typing import Final

from authara_contract.tokens import KeySet

CODE_LENGTH: Final = 6
_CODE_SPACE: Final = 10**CODE_LENGTH


def new_code() -> str:
    """Return a code drawn uniformly from 000000-999999 by the CSPRNG."""
    return f"{secrets.randbelow(_CODE_SPACE):0{CODE_LENGTH}d}"


def is_code(value: str) -> bool:
    """Tell whether a submitted value has a code's shape (six ASCII digits)."""
    return len(value) == CODE_LENGTH and value.isascii() and value.isdigit()


def code_hash(key: bytes, challenge_id: uuid.UUID, code: str) -> str:
    """Return the hex HMAC-SHA256 a challenge's code is stored as."""
    message = f"{challenge_id}:{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def matches(keys: KeySet, key_id: str, stored: str, challenge_id: uuid.UUID, code: str) -> bool:
    """Check a submitted code against the stored HMAC (constant time); a retired key fails."""
    key = keys.keys.get(key_id)
    if key is None:
        return False
    return hmac.compare_digest(code_hash(key, challenge_id, code), stored)
