"""GitHub: OAuth 2.0 (no OpenID Connect), identity from its REST API.

The subject is GitHub's numeric user id (logins can be renamed); the email is the primary
address only when GitHub has verified it (GET /user/emails), never the public profile email.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from authlib.integrations.httpx_client import AsyncOAuth2Client

from authara_core.oauth.client import bearer, get_json, provider_call
from authara_core.oauth.config import ProviderSettings
from authara_core.oauth.port import ProviderIdentity, normalize_provider_email
from authara_core.platform.errors import ProviderAnswerInvalid

_LOGGER = logging.getLogger(__name__)
AUTHORIZE_PATH: Final = "/login/oauth/authorize"
TOKEN_PATH: Final = "/login/oauth/access_token"  # noqa: S105  (a path, not a secret)
API_HEADERS: Final = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


class GitHubProvider:
    """Sign in with a GitHub OAuth app (github.com or GitHub Enterprise Server)."""

    def __init__(
        self, settings: ProviderSettings, *, client: AsyncOAuth2Client, timeout: float
    ) -> None:
        self._settings = settings
        self._client = client
        self._timeout = timeout
        self._web = settings.issuer.rstrip("/")
        self._api = settings.api_url.rstrip("/")

    @property
    def settings(self) -> ProviderSettings:
        """The provider's configuration."""
        return self._settings

    async def authorize_url(self, *, state: str, nonce: str, verifier: str) -> str:
        """Return GitHub's authorize URL (no nonce: GitHub issues no ID token)."""
        url, _state = self._client.create_authorization_url(
            self._web + AUTHORIZE_PATH, state=state, code_verifier=verifier
        )
        return str(url)

    async def check_response_issuer(self, iss: str | None) -> None:
        """GitHub sends no `iss` parameter; there is nothing to compare."""

    async def exchange_code(self, *, code: str, verifier: str, nonce: str) -> ProviderIdentity:
        """Redeem the code, then read the user id and the primary verified email."""
        async with provider_call(self._settings, self._timeout):
            token = await self._client.fetch_token(
                self._web + TOKEN_PATH,
                grant_type="authorization_code",
                code=code,
                code_verifier=verifier,
                auth=self._client.client_auth("client_secret_post"),
            )
            access_token = token.get("access_token")
            if not isinstance(access_token, str) or not access_token:
                raise ProviderAnswerInvalid
            headers = {**API_HEADERS, **bearer(access_token)}
            user = await get_json(self._client, self._api + "/user", headers=headers)
            emails = await get_json(self._client, self._api + "/user/emails", headers=headers)
        subject = user.get("id") if isinstance(user, dict) else None
        if isinstance(subject, bool) or not isinstance(subject, int | str) or subject == "":
            _LOGGER.warning("oauth provider %s: /user has no id", self._settings.name)
            raise ProviderAnswerInvalid
        email = _primary_verified(emails)
        return ProviderIdentity(
            provider=self._settings.name,
            subject=str(subject),
            email=email,
            email_verified=email is not None,
        )


def _primary_verified(emails: Any) -> str | None:
    if not isinstance(emails, list):
        return None
    for entry in emails:
        if (
            isinstance(entry, dict)
            and entry.get("primary") is True
            and entry.get("verified") is True
        ):
            return normalize_provider_email(entry.get("email"))
    return None
