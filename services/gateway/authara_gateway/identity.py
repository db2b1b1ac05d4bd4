"""Verified identity for the app: the access cookie checked once, then remembered until exp."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from authara_contract import headers as contract_headers
from authara_contract.claims import Audience
from authara_contract.tokens import (
    AccessClaims,
    InvalidAccessToken,
    VerifiedTokenCache,
    decode_access_token,
)

from .settings import IdentitySettings

_LOGGER = logging.getLogger(__name__)

# Distinct signed-in users seen within one access-token lifetime; beyond this the oldest
# entry goes (a miss only costs one HMAC check).
CACHE_SIZE: Final = 10_000


@dataclass(frozen=True, slots=True)
class Identity:
    """A verified access token and the headers the app receives for it."""

    claims: AccessClaims
    headers: tuple[tuple[str, str], ...]
    expires: float


class IdentityVerifier:
    """Verify `authara_access` tokens with the configured keys and issuer.

    Verified tokens are kept, keyed by the whole token string, until their `exp`: the hot
    path for a signed-in user is one dictionary lookup. Only tokens that verified are kept,
    so garbage cannot push real users out, and an altered token is a different key.
    """

    def __init__(
        self,
        settings: IdentitySettings,
        *,
        cache_size: int = CACHE_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._cache: VerifiedTokenCache[Identity] = VerifiedTokenCache(cache_size)
        self._clock = clock

    def verify(self, token: str | None) -> Identity | None:
        """Return the token's identity, or None when it is absent or does not verify."""
        if not token:
            return None
        now = self._clock()
        cached = self._cache.get(token, now)
        if cached is not None:
            return cached
        try:
            claims = decode_access_token(
                token,
                keys=self._settings.keys,
                issuer=self._settings.issuer,
                audiences=(Audience.APP,),
            )
        except InvalidAccessToken as exc:
            _LOGGER.debug("ignoring access cookie: %s", exc)
            return None
        identity = Identity(
            claims=claims,
            headers=tuple(identity_headers(claims).items()),
            expires=claims.expires_at.timestamp(),
        )
        if now >= identity.expires:
            return None
        self._cache.put(token, identity, identity.expires)
        return identity

    @property
    def cached(self) -> int:
        """Return how many verified tokens are kept."""
        return len(self._cache)


def identity_headers(claims: AccessClaims) -> dict[str, str]:
    """Build the identity headers the app receives for a verified token."""
    return {
        contract_headers.USER_ID: str(claims.user_id),
        contract_headers.SESSION_ID: str(claims.session_id),
        contract_headers.ROLES: ",".join(claims.roles),
        contract_headers.AUDIENCE: ",".join(claims.audience),
        contract_headers.ORGANIZATION_ID: str(claims.organization_id),
        contract_headers.ORGANIZATION_ROLE: claims.organization_role.value,
    }
