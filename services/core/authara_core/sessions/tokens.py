"""Opaque refresh tokens: 32 CSPRNG bytes, stored only as SHA-256 hex."""

import base64
import hashlib
import hmac
from collections.abc import Iterable
from typing import Final

from authara_core.platform import opaque

REFRESH_TOKEN_BYTES: Final = opaque.TOKEN_BYTES
_SUCCESSOR_CONTEXT: Final = b"authara refresh-token successor v1\x00"
# Presented tokens come from cookies and bodies: a lone surrogate must hash (and then match
# nothing) rather than fail to encode. Tokens we issue are ASCII, so their hashes are unchanged.
_ANY_TEXT: Final = "surrogatepass"


def new_refresh_token() -> str:
    """Return a fresh refresh token (base64url, no padding, 43 characters)."""
    return opaque.new_token()


def hash_refresh_token(token: str) -> str:
    """Return the stored form of a refresh token."""
    return opaque.hash_token(token)


def successor_token(token: str, key: bytes) -> str:
    """Derive the token that replaces `token` at rotation.

    Deterministic, so a concurrent or retried refresh of the same token gets the same
    successor without the server storing any token in plain text; unpredictable without
    the server's key.
    """
    digest = hmac.new(
        key, _SUCCESSOR_CONTEXT + token.encode("utf-8", _ANY_TEXT), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def recover_successor(token: str, successor_hash: str, keys: Iterable[bytes]) -> str | None:
    """Re-derive a stored successor with whichever configured key made it."""
    for key in keys:
        candidate = successor_token(token, key)
        if hmac.compare_digest(hash_refresh_token(candidate), successor_hash):
            return candidate
    return None
