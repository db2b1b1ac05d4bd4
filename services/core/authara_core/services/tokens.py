"""Opaque refresh tokens: 32 CSPRNG bytes, stored only as SHA-256 hex."""

import hashlib
import secrets
from typing import Final

REFRESH_TOKEN_BYTES: Final = 32


def new_refresh_token() -> str:
    """Return a fresh refresh token (base64url, no padding, 43 characters)."""
    return secrets.token_urlsafe(REFRESH_TOKEN_BYTES)


def hash_refresh_token(token: str) -> str:
    """Return the stored form of a refresh token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_csrf_token() -> str:
    """Return a fresh CSRF token (32 bytes, base64url, no padding)."""
    return secrets.token_urlsafe(32)
