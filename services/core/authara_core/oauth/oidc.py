"""An OpenID Connect provider found by discovery; Google is one with a preset issuer.

The ID token is checked with authlib's OIDC claim rules on top of joserfc (authlib's JOSE
layer): signature by a key from the provider's JWKS, `iss` equal to the discovered issuer,
`aud` containing our client id (and `azp` when present), `exp`, and `nonce` equal to the one
this flow derived. Claims the ID token leaves out (many providers put `email` only in the
UserInfo response) are taken from UserInfo, whose `sub` must match.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from authara_core.oauth.client import bearer, get_json, provider_call
from authara_core.oauth.config import GOOGLE, GOOGLE_ISSUER, ProviderSettings
from authara_core.oauth.port import ProviderIdentity, is_verified, normalize_provider_email
from authara_core.platform.clock import Clock
from authara_core.platform.errors import ProviderAnswerInvalid, ProviderUnavailable

_LOGGER = logging.getLogger(__name__)
DISCOVERY_PATH: Final = "/.well-known/openid-configuration"
METADATA_TTL: Final = timedelta(hours=1)
# A token signed with an unknown key id makes us refetch the JWKS (key rotation), at most
# this often, so forged key ids cannot turn us into a request amplifier.
JWKS_REFRESH_MIN_INTERVAL: Final = timedelta(minutes=1)
CLOCK_SKEW_S: Final = 60
# Asymmetric algorithms only: an ID token must be verifiable with the provider's public keys.
SIGNING_ALGORITHMS: Final = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)  # fmt: skip
_REQUIRED_METADATA: Final = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
# Google's ID tokens name their issuer with or without the scheme.
_GOOGLE_ALIASES: Final = ("accounts.google.com",)
# An ID token expiring later than this is not one a provider issued in good faith.
_LAST_YEAR: Final = 9000


@dataclass(frozen=True, slots=True)
class _Metadata:
    document: dict[str, Any]
    fetched_at: datetime


class OidcProvider:
    """Talk to one OpenID Connect provider: authorize URL, code exchange, ID-token checks."""

    def __init__(
        self, settings: ProviderSettings, *, client: AsyncOAuth2Client, clock: Clock, timeout: float
    ) -> None:
        self._settings = settings
        self._client = client
        self._clock = clock
        self._timeout = timeout
        self._metadata: _Metadata | None = None
        self._keys: KeySet | None = None
        self._keys_fetched_at: datetime | None = None

    @property
    def settings(self) -> ProviderSettings:
        """The provider's configuration."""
        return self._settings

    async def authorize_url(self, *, state: str, nonce: str, verifier: str) -> str:
        """Return the authorization endpoint URL for this flow."""
        metadata = await self._load_metadata()
        url, _state = self._client.create_authorization_url(
            metadata["authorization_endpoint"], state=state, code_verifier=verifier, nonce=nonce
        )
        return str(url)

    async def exchange_code(self, *, code: str, verifier: str, nonce: str) -> ProviderIdentity:
        """Redeem the code (with the PKCE verifier) and verify the ID token it returns."""
        metadata = await self._load_metadata()
        async with provider_call(self._settings, self._timeout):
            token = await self._client.fetch_token(
                metadata["token_endpoint"],
                grant_type="authorization_code",
                code=code,
                code_verifier=verifier,
                auth=self._client.client_auth(self._auth_method(metadata)),
            )
        id_token, access_token = token.get("id_token"), token.get("access_token")
        if not isinstance(id_token, str) or not isinstance(access_token, str):
            _LOGGER.warning("oauth provider %s sent no ID token", self._settings.name)
            raise ProviderAnswerInvalid
        claims = await self._verified_claims(id_token, nonce=nonce, access_token=access_token)
        if "email" not in claims or "email_verified" not in claims:
            claims = await self._with_userinfo(claims, metadata, access_token)
        return self._identity(claims)

    async def check_response_issuer(self, iss: str | None) -> None:
        """Refuse an authorization response from another issuer (RFC 9207 mix-up defence)."""
        if iss is None:
            return
        if iss not in self._issuers(await self._load_metadata()):
            _LOGGER.warning("oauth provider %s: callback names issuer %r", self._settings.name, iss)
            raise ProviderAnswerInvalid

    async def verify_id_token(self, id_token: str, *, nonce: str) -> ProviderIdentity:
        """Verify an ID token a client obtained itself (Google Identity Services)."""
        return self._identity(await self._verified_claims(id_token, nonce=nonce, access_token=None))

    async def _verified_claims(
        self, id_token: str, *, nonce: str, access_token: str | None
    ) -> dict[str, Any]:
        metadata = await self._load_metadata()
        try:
            try:
                decoded = jwt.decode(id_token, await self._key_set(), self._algorithms(metadata))
            except InvalidKeyIdError:
                decoded = jwt.decode(
                    id_token, await self._key_set(refresh=True), self._algorithms(metadata)
                )
            claims = CodeIDToken(
                decoded.claims,
                decoded.header,
                options={
                    "iss": {"essential": True, "values": self._issuers(metadata)},
                    "aud": {"essential": True, "value": self._settings.client_id},
                    "sub": {"essential": True},
                    "exp": {"essential": True},
                },
                params={
                    "nonce": nonce,
                    "client_id": self._settings.client_id,
                    "access_token": access_token,
                },
            )
            claims.validate(now=int(self._clock.now().timestamp()), leeway=CLOCK_SKEW_S)
        except (JoseError, ValueError) as exc:
            _LOGGER.warning("oauth provider %s: ID token refused: %r", self._settings.name, exc)
            raise ProviderAnswerInvalid from exc
        return dict(claims)

    async def _with_userinfo(
        self, claims: dict[str, Any], metadata: dict[str, Any], access_token: str
    ) -> dict[str, Any]:
        endpoint = metadata.get("userinfo_endpoint")
        if not isinstance(endpoint, str):
            return claims
        async with provider_call(self._settings, self._timeout):
            info = await get_json(self._client, endpoint, headers=bearer(access_token))
        if not isinstance(info, dict) or info.get("sub") != claims["sub"]:
            _LOGGER.warning("oauth provider %s: UserInfo sub mismatch", self._settings.name)
            raise ProviderAnswerInvalid
        if "email" not in info:
            return claims
        # Email and its verification come from one source, never mixed across the two.
        return {**claims, "email": info["email"], "email_verified": info.get("email_verified")}

    def _identity(self, claims: dict[str, Any]) -> ProviderIdentity:
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise ProviderAnswerInvalid
        return ProviderIdentity(
            provider=self._settings.name,
            subject=subject,
            email=normalize_provider_email(claims.get("email")),
            email_verified=is_verified(claims.get("email_verified")),
            token_expires_at=_expiry(claims.get("exp")),
        )

    def _issuers(self, metadata: dict[str, Any]) -> list[str]:
        issuer = str(metadata["issuer"])
        if self._settings.name == GOOGLE and issuer == GOOGLE_ISSUER:
            return [issuer, *_GOOGLE_ALIASES]
        return [issuer]

    def _algorithms(self, metadata: dict[str, Any]) -> list[str]:
        offered = metadata.get("id_token_signing_alg_values_supported")
        if not isinstance(offered, list):
            return ["RS256"]
        return [alg for alg in SIGNING_ALGORITHMS if alg in offered] or ["RS256"]

    def _auth_method(self, metadata: dict[str, Any]) -> str:
        if self._settings.client_secret is None:
            return "none"
        supported = metadata.get("token_endpoint_auth_methods_supported")
        if (
            isinstance(supported, list)
            and "client_secret_basic" not in supported
            and "client_secret_post" in supported
        ):
            return "client_secret_post"
        return "client_secret_basic"

    async def _load_metadata(self) -> dict[str, Any]:
        now = self._clock.now()
        if self._metadata is not None and now - self._metadata.fetched_at < METADATA_TTL:
            return self._metadata.document
        url = self._settings.issuer.rstrip("/") + DISCOVERY_PATH
        async with provider_call(self._settings, self._timeout):
            document = await get_json(self._client, url)
        if not isinstance(document, dict) or not all(
            isinstance(document.get(key), str) for key in _REQUIRED_METADATA
        ):
            _LOGGER.error("oauth provider %s: incomplete discovery document", self._settings.name)
            raise ProviderUnavailable
        if document["issuer"].rstrip("/") != self._settings.issuer.rstrip("/"):
            _LOGGER.error(
                "oauth provider %s: discovery names issuer %r, configured %r",
                self._settings.name,
                document["issuer"],
                self._settings.issuer,
            )
            raise ProviderUnavailable
        self._metadata = _Metadata(document, now)
        return document

    async def _key_set(self, *, refresh: bool = False) -> KeySet:
        now = self._clock.now()
        stale = (
            self._keys_fetched_at is None
            or now - self._keys_fetched_at >= METADATA_TTL
            or (refresh and now - self._keys_fetched_at >= JWKS_REFRESH_MIN_INTERVAL)
        )
        if self._keys is not None and not stale:
            return self._keys
        metadata = await self._load_metadata()
        async with provider_call(self._settings, self._timeout):
            document = await get_json(self._client, metadata["jwks_uri"])
        try:
            keys = KeySet.import_key_set(document)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            _LOGGER.warning("oauth provider %s: unusable JWKS: %r", self._settings.name, exc)
            raise ProviderUnavailable from exc
        self._keys, self._keys_fetched_at = keys, now
        return keys


def _expiry(exp: object) -> datetime | None:
    """Read the ID token's `exp`; one no datetime can hold (a signed 10**30) is invalid."""
    if not isinstance(exp, int):
        return None
    try:
        expires_at = datetime.fromtimestamp(exp, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ProviderAnswerInvalid from exc
    if expires_at.year > _LAST_YEAR:  # later arithmetic (nonce keep-until) would overflow
        raise ProviderAnswerInvalid
    return expires_at
