"""The redirect flows: start (remember a state), finish (consume it once, then sign in).

Three purposes share one callback: `login` (sign in or sign up), `link` (add a provider to
the signed-in account, started by a CSRF-checked POST) and `proof` (prove ownership of the
account a pending link points at by signing in with a provider already linked to it).
Nothing is written for a failed callback except the consumption of its state.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Final

from authara_contract import routes
from authara_core.accounts.service import AccountService
from authara_core.oauth import identities
from authara_core.oauth import store as oauth_store
from authara_core.oauth.port import OAuthProvider, ProviderIdentity
from authara_core.oauth.registry import ProviderRegistry
from authara_core.oauth.secrets import flow_secrets, hash_secret, looks_like_secret, new_secret
from authara_core.oauth.store import FlowState, PendingLink
from authara_core.platform.clock import Clock
from authara_core.platform.db import Database
from authara_core.platform.errors import (
    OAuthStateInvalid,
    ProviderLinkInvalid,
    ProviderProofFailed,
    Unauthorized,
)
from authara_core.sessions.audience import audience_for
from authara_core.sessions.service import IssuedSession, SessionService

FLOW_TTL: Final = timedelta(minutes=10)
LINK_TTL: Final = timedelta(minutes=10)


class Purpose(StrEnum):
    """Why a flow was started."""

    LOGIN = "login"
    LINK = "link"
    PROOF = "proof"


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A session was started; go to return_to."""

    issued: IssuedSession
    return_to: str


@dataclass(frozen=True, slots=True)
class LinkRequired:
    """The provider's email belongs to an account that must prove ownership first."""

    link_token: str
    return_to: str


@dataclass(frozen=True, slots=True)
class Linked:
    """A provider was added to the signed-in account."""

    provider: str  # display name


@dataclass(frozen=True, slots=True)
class Cancelled:
    """The provider sent the user back with an error (e.g. access_denied)."""

    purpose: Purpose
    provider: str  # display name
    return_to: str
    denied: bool  # the user said no (access_denied), rather than the provider failing


FlowOutcome = SignedIn | LinkRequired | Linked | Cancelled


class OAuthFlows:
    """Start and finish redirect flows; each finish is one service call for the handler."""

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        providers: ProviderRegistry,
        accounts: AccountService,
        sessions: SessionService,
        secret_factory: Callable[[], str] = new_secret,
    ) -> None:
        self._db = db
        self._clock = clock
        self._providers = providers
        self._accounts = accounts
        self._sessions = sessions
        self._new_secret = secret_factory

    def display_name(self, name: str) -> str:
        """Return a provider's button label."""
        return self._providers.display_name(name)

    def new_binding(self) -> str:
        """Return a new browser binding secret for the flow cookie."""
        return self._new_secret()

    async def start_login(self, name: str, *, binding: str, return_to: str) -> str:
        """Start a sign-in; return the provider URL to send the browser to."""
        provider = self._providers.redirect_provider(name)
        return await self._start(provider, binding, Purpose.LOGIN, return_to)

    async def start_link(
        self, name: str, *, binding: str, user_id: uuid.UUID, session_id: uuid.UUID
    ) -> str:
        """Start adding a provider to the signed-in account (bound to that session)."""
        provider = self._providers.redirect_provider(name)
        return await self._start(
            provider,
            binding,
            Purpose.LINK,
            routes.ACCOUNT,
            user_id=user_id,
            session_id=session_id,
        )

    async def start_proof(self, name: str, *, binding: str, link: PendingLink) -> str:
        """Start a sign-in that proves ownership of the account a pending link points at."""
        provider = self._providers.redirect_provider(name)
        return await self._start(
            provider, binding, Purpose.PROOF, link.return_to, provider_link_id=link.id
        )

    async def finish(
        self,
        name: str,
        *,
        binding: str | None,
        state: str | None,
        code: str | None,
        error: str | None,
        user_agent: str,
        client_ip: str | None = None,
        iss: str | None = None,
    ) -> FlowOutcome:
        """Consume the state (once, this browser only), redeem the code and apply the purpose."""
        provider = self._providers.redirect_provider(name)
        if binding is None or not looks_like_secret(binding) or not state:
            raise OAuthStateInvalid
        async with self._db.transaction() as conn:
            flow = await oauth_store.consume_state(
                conn,
                state_hash=hash_secret(state),
                binding_hash=hash_secret(binding),
                provider=name,
                now=self._clock.now(),
            )
        if flow is None:
            raise OAuthStateInvalid
        purpose = Purpose(flow.purpose)
        if error is not None:
            return Cancelled(
                purpose, provider.settings.display_name, flow.return_to, error == "access_denied"
            )
        if not code:
            raise OAuthStateInvalid
        await provider.check_response_issuer(iss)
        secrets = flow_secrets(binding, state)
        identity = await provider.exchange_code(
            code=code, verifier=secrets.verifier, nonce=secrets.nonce
        )
        if purpose is Purpose.LINK:
            return await self._link(identity, flow, provider.settings.display_name)
        if purpose is Purpose.PROOF:
            return await self._proof(identity, flow, user_agent, client_ip)
        return await self._login(identity, flow.return_to, binding, user_agent, client_ip)

    async def cleanup(self) -> int:
        """Delete expired flow states and pending links."""
        async with self._db.transaction() as conn:
            return await oauth_store.delete_expired(conn, self._clock.now())

    async def _start(
        self,
        provider: OAuthProvider,
        binding: str,
        purpose: Purpose,
        return_to: str,
        *,
        user_id: uuid.UUID | None = None,
        session_id: uuid.UUID | None = None,
        provider_link_id: uuid.UUID | None = None,
    ) -> str:
        state = self._new_secret()
        secrets = flow_secrets(binding, state)
        # Discovery runs first: an unreachable provider leaves no row behind.
        url = await provider.authorize_url(
            state=state, nonce=secrets.nonce, verifier=secrets.verifier
        )
        now = self._clock.now()
        async with self._db.transaction() as conn:
            await oauth_store.insert_state(
                conn,
                state_hash=hash_secret(state),
                binding_hash=hash_secret(binding),
                provider=provider.settings.name,
                purpose=purpose.value,
                return_to=return_to,
                expires_at=now + FLOW_TTL,
                now=now,
                user_id=user_id,
                session_id=session_id,
                provider_link_id=provider_link_id,
            )
        return url

    async def _login(
        self,
        identity: ProviderIdentity,
        return_to: str,
        binding: str,
        user_agent: str,
        client_ip: str | None,
    ) -> SignedIn | LinkRequired:
        now = self._clock.now()
        async with self._db.transaction() as conn:
            if identity.email:  # the allowlist first: no account made, no link offered
                await self._sessions.check_allowed_in(conn, identity.email, None)
            found = await identities.resolve(conn, identity, accounts=self._accounts, now=now)
            if isinstance(found, identities.Known):
                issued = await self._sessions.start_in(
                    conn,
                    found.user,
                    audience=audience_for(return_to),
                    user_agent=user_agent,
                    client_ip=client_ip,
                )
                return SignedIn(issued, return_to)
            token = self._new_secret()
            await oauth_store.insert_pending_link(
                conn,
                token_hash=hash_secret(token),
                binding_hash=hash_secret(binding),
                user_id=found.user.id,
                provider=identity.provider,
                provider_user_id=identity.subject,
                provider_email=identity.email or found.user.email,
                return_to=return_to,
                expires_at=now + LINK_TTL,
                now=now,
            )
        return LinkRequired(token, return_to)

    async def _link(self, identity: ProviderIdentity, flow: FlowState, display: str) -> Linked:
        now = self._clock.now()
        async with self._db.transaction() as conn:
            if flow.user_id is None or flow.session_id is None:
                raise OAuthStateInvalid
            if not await oauth_store.session_is_live(
                conn, session_id=flow.session_id, user_id=flow.user_id, now=now
            ):
                raise Unauthorized("Your session has ended. Sign in and try again.")
            await identities.attach(conn, flow.user_id, identity, now)
        return Linked(display)

    async def _proof(
        self, identity: ProviderIdentity, flow: FlowState, user_agent: str, client_ip: str | None
    ) -> SignedIn:
        now = self._clock.now()
        async with self._db.transaction() as conn:
            if flow.provider_link_id is None:
                raise OAuthStateInvalid
            link = await oauth_store.get_pending_link_by_id(conn, flow.provider_link_id, now)
            if link is None:
                raise ProviderLinkInvalid
            owner = await oauth_store.find_identity_owner(conn, identity.provider, identity.subject)
            if owner != link.user_id:
                raise ProviderProofFailed
            issued = await identities.complete_link(
                conn,
                link,
                sessions=self._sessions,
                now=now,
                user_agent=user_agent,
                client_ip=client_ip,
            )
        return SignedIn(issued, link.return_to)
