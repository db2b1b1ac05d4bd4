"""Verified identity for the app, and removal of every client-sent X-Authara-* header."""

import logging

from multidict import CIMultiDict

from authara_contract import headers as contract_headers
from authara_contract.claims import Audience
from authara_contract.tokens import AccessClaims, InvalidAccessToken, decode_access_token

from .settings import IdentitySettings

_LOGGER = logging.getLogger(__name__)


class IdentityVerifier:
    """Verify `authara_access` tokens with the configured keys and issuer."""

    def __init__(self, settings: IdentitySettings) -> None:
        self._settings = settings

    def verify(self, token: str | None) -> AccessClaims | None:
        """Return the token's claims, or None when it is absent or does not verify."""
        if not token:
            return None
        try:
            return decode_access_token(
                token,
                keys=self._settings.keys,
                issuer=self._settings.issuer,
                audiences=(Audience.APP,),
            )
        except InvalidAccessToken as exc:
            _LOGGER.debug("ignoring access cookie: %s", exc)
            return None


def strip_identity_headers(headers: CIMultiDict[str]) -> None:
    """Delete every X-Authara-* header, in any casing, before anything is forwarded."""
    for name in {name for name in headers if _is_identity_like(name)}:
        headers.popall(name)


def identity_headers(claims: AccessClaims) -> dict[str, str]:
    """Build the four identity headers the app receives for a verified token."""
    return {
        contract_headers.USER_ID: str(claims.user_id),
        contract_headers.SESSION_ID: str(claims.session_id),
        contract_headers.ROLES: ",".join(claims.roles),
        contract_headers.AUDIENCE: ",".join(claims.audience),
    }


def _is_identity_like(name: str) -> bool:
    # CGI/WSGI servers map `_` and `-` to the same variable, so X_Authara_User_Id would
    # reach such an app as HTTP_X_AUTHARA_USER_ID.
    return contract_headers.is_identity_header(name.replace("_", "-"))
