"""Per-flow secrets, bound to the browser that started the flow.

The browser holds one random binding secret in the HttpOnly `authara_oauth_flow` cookie; the
server stores only hashes of it and of each flow's `state`. The PKCE verifier and the OIDC
nonce are derived from both, so a database row alone cannot complete a flow and a callback
URL replayed in another browser has neither the verifier nor the matching binding.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

SECRET_BYTES: Final = 32
_VERIFIER: Final = b"authara oauth pkce-verifier v1\x00"
_NONCE: Final = b"authara oauth nonce v1\x00"


def new_secret() -> str:
    """Return a fresh CSPRNG secret (base64url, no padding, 43 characters)."""
    return secrets.token_urlsafe(SECRET_BYTES)


def hash_secret(value: str) -> str:
    """Return the stored form of a state, binding secret, nonce or link token."""
    return hashlib.sha256(value.encode()).hexdigest()


def looks_like_secret(value: str | None) -> bool:
    """Tell whether a cookie value has the shape of a secret we issued."""
    return value is not None and len(value) == 43 and value.isascii()


def _derive(binding: str, context: bytes, state: str) -> str:
    digest = hmac.new(binding.encode(), context + state.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class FlowSecrets:
    """What one redirect flow sends to the provider, and what it must get back."""

    state: str
    verifier: str  # RFC 7636: 43 characters of [A-Za-z0-9-_], S256 challenge sent
    nonce: str


def flow_secrets(binding: str, state: str) -> FlowSecrets:
    """Derive a flow's PKCE verifier and nonce from the browser's binding secret."""
    return FlowSecrets(
        state=state,
        verifier=_derive(binding, _VERIFIER, state),
        nonce=_derive(binding, _NONCE, state),
    )
