"""The identity rules: external identities are keyed by (provider, subject), never by email.

A known identity signs its user in, whatever email the provider reports today. An unknown
one creates an account only when the provider vouches for the email; when an account with
that email already exists, nothing is linked until its owner proves who they are.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from authara_core.accounts import users
from authara_core.accounts.service import AccountService
from authara_core.accounts.users import UserRow
from authara_core.oauth import store as oauth_store
from authara_core.oauth.port import ProviderIdentity
from authara_core.oauth.store import PendingLink
from authara_core.platform.db import Connection
from authara_core.platform.errors import (
    EmailNotVerified,
    ProviderAlreadyLinked,
    ProviderLinkInvalid,
)
from authara_core.sessions.audience import audience_for
from authara_core.sessions.service import IssuedSession, SessionService


@dataclass(frozen=True, slots=True)
class Known:
    """The identity belongs to this user (now, or since an account was just created)."""

    user: UserRow


@dataclass(frozen=True, slots=True)
class Collision:
    """No identity, but an account with the provider's verified email exists."""

    user: UserRow


async def resolve(
    conn: Connection, identity: ProviderIdentity, *, accounts: AccountService, now: datetime
) -> Known | Collision:
    """Find the identity's user, or create one, or report the email collision."""
    owner = await oauth_store.find_identity_owner(conn, identity.provider, identity.subject)
    if owner is not None:
        user = await users.get_user(conn, owner)
        if user is not None:
            return Known(user)
    if identity.email is None or not identity.email_verified:
        raise EmailNotVerified
    existing = await users.get_user_by_email(conn, identity.email)
    if existing is not None:
        return Collision(existing)
    user = await accounts.insert_user_in(conn, identity.email)
    await attach(conn, user.id, identity, now)
    return Known(user)


async def attach(
    conn: Connection, user_id: uuid.UUID, identity: ProviderIdentity, now: datetime
) -> None:
    """Link an identity to a user (a no-op when it already is); refuse when either is taken."""
    owner = await oauth_store.find_identity_owner(conn, identity.provider, identity.subject)
    if owner == user_id:
        return
    if owner is not None:
        raise ProviderAlreadyLinked
    try:
        async with conn.transaction():  # savepoint: a clash must not abort the outer tx
            await oauth_store.insert_identity(
                conn,
                user_id=user_id,
                provider=identity.provider,
                subject=identity.subject,
                now=now,
            )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == oauth_store.USER_PROVIDER_CONSTRAINT:
            raise ProviderAlreadyLinked(
                "Your account is already linked to another account at this provider."
                " Remove that one first."
            ) from exc
        raise ProviderAlreadyLinked from exc


async def complete_link(
    conn: Connection,
    link: PendingLink,
    *,
    sessions: SessionService,
    now: datetime,
    user_agent: str,
    client_ip: str | None = None,
) -> IssuedSession:
    """Consume a pending link (once), link its identity and sign the account in."""
    if not await oauth_store.consume_pending_link(conn, link.id, now):
        raise ProviderLinkInvalid
    user = await users.get_user(conn, link.user_id)
    if user is None:
        raise ProviderLinkInvalid
    identity = ProviderIdentity(
        provider=link.provider,
        subject=link.provider_user_id,
        email=link.provider_email,
        email_verified=True,
    )
    await attach(conn, user.id, identity, now)
    return await sessions.start_in(
        conn,
        user,
        audience=audience_for(link.return_to),
        user_agent=user_agent,
        client_ip=client_ip,
    )
