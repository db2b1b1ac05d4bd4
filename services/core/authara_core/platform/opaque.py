"""Opaque bearer secrets (refresh tokens, invitation tokens): 32 CSPRNG bytes, stored hashed."""

import hashlib
import secrets
from typing import Final

TOKEN_BYTES: Final = 32
# Presented tokens come from cookies, forms and bodies: a lone surrogate must hash (and then
# match nothing) rather than fail to encode. Tokens we issue are ASCII, so their hashes are
# unchanged.
_ANY_TEXT: Final = "surrogatepass"


def new_token() -> str:
    """Return a fresh token (base64url, no padding, 43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """Return the stored form of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8", _ANY_TEXT)).hexdigest()
