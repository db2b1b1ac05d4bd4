"""Pending links, the account's sign-in methods, and unlinking.

Confirming a pending link with the account's password counts as a login attempt for the
rate limits (IP and the account's email), exactly like the login form.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final

from authara_core.accounts import users
from authara_core.accounts.users import PASSWORD_PROVIDER, UserRow
from authara_core.oauth import identities
from authara_core.oauth import store as oauth_store
from authara_core.oauth.config import ProviderSettings
from authara_core.oauth.flows import OAuthFlows, SignedIn
from authara_core.oauth.registry import ProviderRegistry
from authara_core.oauth.secrets import hash_secret, looks_like_secret
from authara_core.oauth.store import PendingLink
from authara_core.passkeys.service import passkey_count_in
from authara_core.platform.clock import Clock
from authara_core.platform.db import Connection, Database
from authara_core.platform.errors import (
    InvalidCredentials,
    LastSignInMethod,
    NotFound,
    ProviderLinkInvalid,
    Unauthorized,
)
from authara_core.platform.hasher import PasswordHasher
from authara_core.platform.ratelimit import Throttle
from authara_core.sessions.service import SessionService

PASSWORD_LABEL: Final = "Password"  # noqa: S105  (a label, not a secret)


@dataclass(frozen=True, slots=True)
class LinkView:
    """What the link page shows: whose account, and how its owner can prove it."""

    provider: str  # display name of the provider being linked
    email: str
    has_password: bool
    proof_providers: tuple[ProviderSettings, ...]


@dataclass(frozen=True, slots=True)
class SignInMethodView:
    """One line of the account page's sign-in methods."""

    provider: str
    label: str


@dataclass(frozen=True, slots=True)
class AccountView:
    """The account page: the user, their sign-in methods, providers they can still link."""

    user: UserRow
    methods: tuple[SignInMethodView, ...]
    linkable: tuple[ProviderSettings, ...]


class ProviderLinks:
    """Confirm pending links, show sign-in methods, unlink providers."""

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        hasher: PasswordHasher,
        throttle: Throttle,
        sessions: SessionService,
        providers: ProviderRegistry,
        flows: OAuthFlows,
    ) -> None:
        self._db = db
        self._clock = clock
        self._hasher = hasher
        self._throttle = throttle
        self._sessions = sessions
        self._providers = providers
        self._flows = flows

    async def pending(self, *, link_token: str | None, binding: str | None) -> LinkView:
        """Describe a live pending link of this browser."""
        async with self._db.connection() as conn:
            link = await self._load(conn, link_token, binding)
            user = await users.get_user(conn, link.user_id)
            has_password = await users.get_password_hash(conn, link.user_id) is not None
            methods = await oauth_store.list_sign_in_methods(conn, link.user_id)
        if user is None:
            raise ProviderLinkInvalid
        linked = {m.provider for m in methods if m.usable}
        return LinkView(
            provider=self._providers.display_name(link.provider),
            email=user.email,
            has_password=has_password,
            proof_providers=tuple(
                p for p in self._providers.redirect_providers if p.name in linked
            ),
        )

    async def confirm_with_password(
        self,
        *,
        link_token: str | None,
        binding: str | None,
        password: str,
        user_agent: str,
        client_ip: str | None,
    ) -> SignedIn:
        """Check the account's password (a login attempt), then link and sign in."""
        async with self._db.connection() as conn:
            link = await self._load(conn, link_token, binding)
            password_hash = await users.get_password_hash(conn, link.user_id)
        await self._throttle.check("login", ip=client_ip, email=link.provider_email)
        if password_hash is None:
            await self._hasher.burn(password)
            raise InvalidCredentials("Invalid password.")
        if not await self._hasher.verify(password_hash, password):
            raise InvalidCredentials("Invalid password.")
        async with self._db.transaction() as conn:
            issued = await identities.complete_link(
                conn,
                link,
                sessions=self._sessions,
                now=self._clock.now(),
                user_agent=user_agent,
                client_ip=client_ip,
            )
        return SignedIn(issued, link.return_to)

    async def start_proof(
        self, *, link_token: str | None, binding: str | None, provider: str
    ) -> str:
        """Start a sign-in with a provider already linked to the pending link's account."""
        async with self._db.connection() as conn:
            link = await self._load(conn, link_token, binding)
        assert binding is not None  # noqa: S101  (_load refused a missing binding)
        return await self._flows.start_proof(provider, binding=binding, link=link)

    async def account(self, user_id: uuid.UUID) -> AccountView:
        """Load the account page's data."""
        async with self._db.connection() as conn:
            user = await users.get_user(conn, user_id)
            methods = await oauth_store.list_sign_in_methods(conn, user_id)
        if user is None:
            raise Unauthorized
        usable = [m for m in methods if m.usable]
        linked = {m.provider for m in usable}
        return AccountView(
            user=user,
            methods=tuple(SignInMethodView(m.provider, self._label(m.provider)) for m in usable),
            linkable=tuple(p for p in self._providers.redirect_providers if p.name not in linked),
        )

    async def unlink(self, *, user_id: uuid.UUID, session_id: uuid.UUID, provider: str) -> str:
        """Remove a sign-in method unless it is the last one; return its label."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            if not await oauth_store.session_is_live(
                conn, session_id=session_id, user_id=user_id, now=now
            ):
                raise Unauthorized("Your session has ended. Sign in and try again.")
            methods = await oauth_store.lock_sign_in_methods(conn, user_id)
            if not any(m.provider == provider for m in methods):
                raise NotFound("That sign-in method is not linked to your account.")
            if not any(
                m.usable for m in methods if m.provider != provider
            ) and not await passkey_count_in(conn, user_id):
                raise LastSignInMethod
            await oauth_store.delete_sign_in_method(conn, user_id, provider)
        return self._label(provider)

    def _label(self, provider: str) -> str:
        return (
            PASSWORD_LABEL
            if provider == PASSWORD_PROVIDER
            else self._providers.display_name(provider)
        )

    async def _load(
        self, conn: Connection, link_token: str | None, binding: str | None
    ) -> PendingLink:
        if not link_token or binding is None or not looks_like_secret(binding):
            raise ProviderLinkInvalid
        link = await oauth_store.get_pending_link(
            conn,
            token_hash=hash_secret(link_token),
            binding_hash=hash_secret(binding),
            now=self._clock.now(),
        )
        if link is None:
            raise ProviderLinkInvalid
        return link
