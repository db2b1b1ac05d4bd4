"""Google Identity Services: a client hands us Google's ID token (upstream §7 JSON flow).

The nonce comes from the HttpOnly `authara_oauth_nonce` cookie; the body must repeat it and
the ID token must carry it. Each nonce signs in at most once: it is recorded, in the same
transaction as the session, until the ID token expires.
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Final

from authara_contract.claims import Audience
from authara_core.accounts.service import AccountService
from authara_core.oauth import identities
from authara_core.oauth import store as oauth_store
from authara_core.oauth.registry import ProviderRegistry
from authara_core.oauth.secrets import hash_secret, new_secret
from authara_core.platform.clock import Clock
from authara_core.platform.db import Database
from authara_core.platform.errors import AccountLinkRequired, InvalidRequest, Unauthorized
from authara_core.sessions.service import IssuedSession, SessionService

NONCE_TTL: Final = timedelta(minutes=10)


class GoogleIdTokens:
    """Sign in with an ID token from Google Identity Services."""

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        providers: ProviderRegistry,
        accounts: AccountService,
        sessions: SessionService,
    ) -> None:
        self._db = db
        self._clock = clock
        self._providers = providers
        self._accounts = accounts
        self._sessions = sessions

    def client_id(self) -> str:
        """Return Google's client id, or raise ProviderNotFound when Google is off."""
        return self._providers.google().settings.client_id

    def new_nonce(self) -> str:
        """Return a fresh nonce for the cookie."""
        return new_secret()

    async def login(
        self,
        *,
        credential: str,
        nonce: str,
        cookie_nonce: str | None,
        audience: Audience,
        user_agent: str,
        client_ip: str | None = None,
    ) -> IssuedSession:
        """Verify the credential and sign its user in (409 when the email needs linking)."""
        google = self._providers.google()
        credential, nonce = credential.strip(), nonce.strip()
        if not credential or not nonce:
            raise InvalidRequest("credential and nonce are required.")
        if not cookie_nonce or not hmac.compare_digest(nonce.encode(), cookie_nonce.encode()):
            raise Unauthorized("The sign-in nonce does not match. Start again.")
        identity = await google.verify_id_token(credential, nonce=cookie_nonce)
        now = self._clock.now()
        expires_at = max(now + NONCE_TTL, (identity.token_expires_at or now) + NONCE_TTL)
        async with self._db.transaction() as conn:
            if not await oauth_store.record_used_nonce(
                conn,
                nonce_hash=hash_secret("id_token\x00" + cookie_nonce),
                provider=google.settings.name,
                return_to="",
                expires_at=expires_at,
                now=now,
            ):
                raise Unauthorized("This sign-in was already used. Start again.")
            if identity.email:  # 403 before anything else, as upstream (no 409 link offer)
                await self._sessions.check_allowed_in(conn, identity.email, None)
            found = await identities.resolve(conn, identity, accounts=self._accounts, now=now)
            if isinstance(found, identities.Collision):
                raise AccountLinkRequired
            return await self._sessions.start_in(
                conn, found.user, audience=audience, user_agent=user_agent, client_ip=client_ip
            )
