"""The OAuthProvider port: what the sign-in flows need from a provider, and what it returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from authara_core.oauth.config import ProviderSettings


@dataclass(frozen=True, slots=True)
class ProviderIdentity:
    """Who the provider says signed in: (provider, subject) is the key, email only a hint."""

    provider: str
    subject: str
    email: str | None  # trimmed and lower-cased
    email_verified: bool
    token_expires_at: datetime | None = None  # the ID token's exp, when there was one


class OAuthProvider(Protocol):
    """One sign-in provider (OpenID Connect, or GitHub's OAuth 2.0 flavour)."""

    @property
    def settings(self) -> ProviderSettings:
        """The provider's configuration."""
        ...

    async def authorize_url(self, *, state: str, nonce: str, verifier: str) -> str:
        """Return the URL that sends the browser to the provider (PKCE S256)."""
        ...

    async def exchange_code(self, *, code: str, verifier: str, nonce: str) -> ProviderIdentity:
        """Redeem an authorization code and return the verified identity behind it."""
        ...

    async def check_response_issuer(self, iss: str | None) -> None:
        """Refuse a callback whose `iss` parameter (RFC 9207) names another issuer."""
        ...


class IdTokenVerifier(Protocol):
    """A provider whose ID tokens a client may hand us directly (Google Identity Services)."""

    @property
    def settings(self) -> ProviderSettings:
        """The provider's configuration."""
        ...

    async def verify_id_token(self, id_token: str, *, nonce: str) -> ProviderIdentity:
        """Check an ID token's signature and claims and return its identity."""
        ...


def normalize_provider_email(value: object) -> str | None:
    """Return a provider's email trimmed and lower-cased, or None when it is not a string."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().lower()


def is_verified(value: object) -> bool:
    """Read an `email_verified` claim: true, or the string "true" some providers send."""
    return value is True or value == "true"
