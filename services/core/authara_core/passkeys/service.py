"""Passkeys: register, sign in with a discoverable credential, list, rename, delete.

Each ceremony's challenge is stored server-side for five minutes and consumed by
compare-and-set in a transaction of its own, committed before the response is verified: a
challenge is spent by any attempt, good or bad, so it can never be replayed. A sign-in whose
signature holds but whose counter went backwards flags the credential (clone warning), writes
an audit event and a log line, commits, and is refused; a flagged credential signs in no more.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import asyncpg

from authara_contract.claims import Audience
from authara_core.accounts import users
from authara_core.accounts.events import user_updated
from authara_core.admin import audit
from authara_core.passkeys import store
from authara_core.passkeys.ceremony import (
    RelyingParty,
    authentication_options,
    counter_went_backwards,
    parse_assertion,
    registration_options,
    verify_assertion,
    verify_registration,
)
from authara_core.passkeys.naming import MAX_NAME, PasskeyNamer, clean_name
from authara_core.passkeys.store import NewPasskey, PasskeyRow
from authara_core.platform.clock import Clock
from authara_core.platform.db import Connection, Database
from authara_core.platform.errors import (
    LastSignInMethod,
    PasskeyAlreadyExists,
    PasskeyNameInvalid,
    PasskeyNotFound,
    PasskeyRegistrationInvalid,
    PasskeySignInFailed,
    Unauthorized,
)
from authara_core.platform.outbox import Outbox
from authara_core.platform.ratelimit import Throttle
from authara_core.platform.revocation import Revoker
from authara_core.sessions.service import IssuedSession, SessionService, end_user_sessions_in

CHALLENGE_TTL: Final = timedelta(minutes=5)
CHALLENGE_BYTES: Final = 32
_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CeremonyOptions:
    """A challenge's id and the options for the browser (`{"publicKey": {...}}`)."""

    challenge_id: uuid.UUID
    options: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PasskeyView:
    """One of the user's passkeys, as the account page and the API show it."""

    id: uuid.UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None
    backed_up: bool
    synced: bool
    clone_warning: bool
    transports: tuple[str, ...]


def _view(row: PasskeyRow) -> PasskeyView:
    return PasskeyView(
        id=row.id,
        name=row.name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        backed_up=row.backup_state,
        synced=row.backup_eligible,
        clone_warning=row.clone_warning,
        transports=row.transports,
    )


def valid_name(name: str) -> str:
    """Return the cleaned name, or refuse (422) one that is blank or too long."""
    cleaned = clean_name(name)
    if not cleaned or len(cleaned) > MAX_NAME:
        raise PasskeyNameInvalid
    return cleaned


async def passkey_count_in(conn: Connection, user_id: uuid.UUID) -> int:
    """How many passkeys a user can sign in with (other domains' last-method guards)."""
    return await store.count_for_user(conn, user_id)


class PasskeyService:
    """The passkey ceremonies and the signed-in user's passkeys."""

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        events: Outbox,
        sessions: SessionService,
        throttle: Throttle,
        relying_party: RelyingParty,
        revoker: Revoker,
        namer: PasskeyNamer | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._events = events
        self._sessions = sessions
        self._throttle = throttle
        self._rp = relying_party
        self._revoker = revoker
        self._namer = namer or PasskeyNamer()

    # Registration (signed in)

    async def registration_options(self, user_id: uuid.UUID) -> CeremonyOptions:
        """Open a registration for the user: their existing credentials are excluded."""
        now = self._clock.now()
        challenge = secrets.token_bytes(CHALLENGE_BYTES)
        async with self._db.transaction() as conn:
            user = await users.get_user(conn, user_id)
            if user is None:
                raise Unauthorized
            exclude = await store.credential_ids(conn, user_id)
            challenge_id = await store.insert_challenge(
                conn,
                purpose=store.REGISTRATION,
                challenge=challenge,
                user_id=user_id,
                expires_at=now + CHALLENGE_TTL,
                now=now,
            )
        options = registration_options(
            self._rp, user_id=user_id, user_name=user.email, challenge=challenge, exclude=exclude
        )
        return CeremonyOptions(challenge_id, options)

    async def register(
        self,
        *,
        user_id: uuid.UUID,
        challenge_id: uuid.UUID,
        credential: dict[str, Any],
        name: str | None,
        platform_hint: str | None,
        user_agent: str,
    ) -> PasskeyView:
        """Verify a creation response against the user's challenge and store the credential.

        409 when the credential is registered already, 422 for anything that does not verify
        (the challenge unknown, used, expired, of the other kind or another user's included).
        """
        chosen = valid_name(name) if name is not None and name.strip() else None
        now = self._clock.now()
        async with self._db.transaction() as conn:
            challenge = await store.consume_challenge(
                conn, challenge_id, purpose=store.REGISTRATION, user_id=user_id, now=now
            )
        if challenge is None:
            raise PasskeyRegistrationInvalid
        registered = verify_registration(self._rp, credential, challenge)
        passkey = NewPasskey(
            user_id=user_id,
            credential_id=registered.credential_id,
            public_key=registered.public_key,
            sign_count=registered.sign_count,
            transports=registered.transports,
            aaguid=registered.aaguid,
            attestation_format=registered.attestation_format,
            user_verified=registered.user_verified,
            backup_eligible=registered.backup_eligible,
            backup_state=registered.backup_state,
            name=chosen or self._namer.name(user_agent, platform_hint=platform_hint, now=now),
        )
        try:
            async with self._db.transaction() as conn:
                if not await users.lock_user_for_change(conn, user_id):
                    raise Unauthorized
                passkey_id = await store.insert_passkey(conn, passkey, now=now)
                await self._events.record_in(conn, [user_updated(user_id)], now=now)
        except asyncpg.UniqueViolationError as exc:
            raise PasskeyAlreadyExists from exc
        return PasskeyView(
            id=passkey_id,
            name=passkey.name,
            created_at=now,
            last_used_at=None,
            backed_up=passkey.backup_state,
            synced=passkey.backup_eligible,
            clone_warning=False,
            transports=passkey.transports,
        )

    # Sign-in (anyone)

    async def authentication_options(self, *, client_ip: str | None) -> CeremonyOptions:
        """Open a sign-in with a discoverable credential (rate limited by IP: passkey_login)."""
        await self._throttle.check_ip("passkey_login", ip=client_ip)
        now = self._clock.now()
        challenge = secrets.token_bytes(CHALLENGE_BYTES)
        async with self._db.transaction() as conn:
            challenge_id = await store.insert_challenge(
                conn,
                purpose=store.AUTHENTICATION,
                challenge=challenge,
                user_id=None,
                expires_at=now + CHALLENGE_TTL,
                now=now,
            )
        return CeremonyOptions(challenge_id, authentication_options(self._rp, challenge=challenge))

    async def authenticate(
        self,
        *,
        challenge_id: uuid.UUID,
        credential: dict[str, Any],
        audience: Audience,
        user_agent: str,
        client_ip: str | None,
    ) -> IssuedSession:
        """Verify an assertion and start a session for the credential's owner.

        Any failure is PasskeySignInFailed (401; the pages say 422) and starts nothing.
        """
        await self._throttle.check_ip("passkey_login_finish", ip=client_ip)
        assertion = parse_assertion(credential)
        now = self._clock.now()
        async with self._db.transaction() as conn:
            challenge = await store.consume_challenge(
                conn, challenge_id, purpose=store.AUTHENTICATION, user_id=None, now=now
            )
        if challenge is None:
            raise PasskeySignInFailed
        cloned: PasskeyRow | None = None
        async with self._db.transaction() as conn:
            passkey = await store.lock_by_credential_id(conn, assertion.credential_id)
            if passkey is None or passkey.clone_warning:
                raise PasskeySignInFailed
            if assertion.user_handle is not None and assertion.user_handle != passkey.user_id.bytes:
                raise PasskeySignInFailed
            verified = verify_assertion(
                self._rp, assertion, challenge=challenge, public_key=passkey.public_key
            )
            if counter_went_backwards(passkey.sign_count, verified.sign_count):
                cloned = passkey
                await store.flag_clone(conn, passkey.id, now=now)
                # A copy of the key may have signed in already: end every session, as for
                # any other sign of a compromised credential (a password reset, disabling).
                ended = await end_user_sessions_in(conn, passkey.user_id, now)
                event = audit.SYSTEM.event(
                    audit.Action.PASSKEY_CLONE_DETECTED,
                    target_user_id=passkey.user_id,
                    metadata={
                        "passkey_id": str(passkey.id),
                        "stored_sign_count": passkey.sign_count,
                        "received_sign_count": verified.sign_count,
                        "sessions_ended": ended,
                    },
                )
                await audit.record(conn, event, now=now)
            else:
                await store.record_use(
                    conn,
                    passkey.id,
                    sign_count=verified.sign_count,
                    backup_state=verified.backup_state,
                    now=now,
                )
                user = await users.get_user(conn, passkey.user_id)
                if user is None:
                    raise PasskeySignInFailed
                return await self._sessions.start_in(
                    conn, user, audience=audience, user_agent=user_agent, client_ip=client_ip
                )
        # The flag, the ended sessions and the audit event are committed; now refuse.
        assert cloned is not None  # noqa: S101  (the other branch returned)
        await self._revoker.user(cloned.user_id)
        _LOGGER.warning(
            "passkey %s of user %s: signature counter went backwards (%d after %d);"
            " flagged as possibly cloned, the user's sessions ended, sign-in refused",
            cloned.id,
            cloned.user_id,
            verified.sign_count,
            cloned.sign_count,
        )
        raise PasskeySignInFailed

    # The signed-in user's passkeys

    async def list(self, user_id: uuid.UUID) -> list[PasskeyView]:
        """List the user's passkeys, oldest first."""
        async with self._db.connection() as conn:
            rows = await store.list_for_user(conn, user_id)
        return [_view(row) for row in rows]

    async def rename(self, *, user_id: uuid.UUID, passkey_id: uuid.UUID, name: str) -> str:
        """Rename one of the user's passkeys (404 when it is not theirs); return the name."""
        cleaned = valid_name(name)
        now = self._clock.now()
        async with self._db.transaction() as conn:
            if not await store.rename(conn, passkey_id, user_id, cleaned, now=now):
                raise PasskeyNotFound
            await self._events.record_in(conn, [user_updated(user_id)], now=now)
        return cleaned

    async def delete(self, *, user_id: uuid.UUID, passkey_id: uuid.UUID) -> None:
        """Delete one of the user's passkeys, never their last way to sign in (422)."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            # The same lock as unlinking a provider: the two guards cannot race each other.
            if not await users.lock_user(conn, user_id, exclusive=True):
                raise Unauthorized
            owned = await store.list_for_user(conn, user_id)
            if passkey_id not in {row.id for row in owned}:
                raise PasskeyNotFound
            # Only a passkey that still signs in counts: one flagged as a clone does not.
            usable_others = [r for r in owned if r.id != passkey_id and not r.clone_warning]
            if not usable_others and not await store.has_other_sign_in_method(conn, user_id):
                raise LastSignInMethod(
                    "This passkey is your only way to sign in: add a password or another"
                    " passkey first."
                )
            await store.delete(conn, passkey_id, user_id)
            await self._events.record_in(conn, [user_updated(user_id)], now=now)

    async def cleanup(self) -> int:
        """Delete expired challenges; return how many."""
        async with self._db.transaction() as conn:
            return await store.delete_old_challenges(conn, now=self._clock.now())
