"""Email challenges: prove an address with a code before a signup, reset or email change.

A challenge is opened with what it will apply captured up front (a password hashed now, the
new address), and its mail is queued in the same transaction (mail/outbox.py); the code is
made when the mail is sent (challenges/mail.py). Verifying locks the challenge row, checks
the code and consumes the challenge with a compare-and-set in the transaction that applies
it, so of two verifications of one code exactly one applies. A wrong code is counted and
committed before the refusal.

Opaque challenges stand in for emails that must not be told apart (an account that exists
on signup, one that does not on reset, one that is taken on email change): they are made
and answered like real ones, count attempts and resends the same way, but get no mail and
no code, so they can never verify.

Lock order: the account a challenge belongs to (if any), then the challenge, then whatever
it applies (an invitation's organization, then the invitation), as account deletion takes
the account before the challenges it deletes.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, TypeVar

from authara_contract.claims import Audience
from authara_contract.tokens import KeySet
from authara_core.accounts import users
from authara_core.accounts.service import AccountService, PreparedSignup
from authara_core.accounts.validation import validate_email
from authara_core.admin import audit
from authara_core.challenges import codes, store
from authara_core.challenges.store import ChallengeRow
from authara_core.mail.outbox import MailTemplate, enqueue_in
from authara_core.organizations.acceptance import InvitationAcceptance
from authara_core.platform.clock import Clock
from authara_core.platform.db import Connection, Database
from authara_core.platform.errors import (
    ChallengeCodeExpired,
    ChallengeCodeWrong,
    ChallengeExpired,
    ChallengeLocked,
    ChallengeRefused,
    ChallengesDisabled,
    ChallengeUnknown,
    ChallengeUsed,
    EmailTaken,
    InvalidRequest,
    InvitationForOtherEmail,
    InvitationUnusable,
    Unauthorized,
)
from authara_core.platform.ratelimit import Throttle
from authara_core.platform.revocation import Revoker
from authara_core.sessions.service import IssuedSession, SessionService, end_user_sessions_in
from authara_core.settings import ChallengeSettings

__all__ = [
    "ChallengeService",
    "Purpose",
    "ResendOutcome",
    "delete_password_resets_in",
    "delete_user_challenges_in",
]


class Purpose(StrEnum):
    """What a challenge proves the address for (the `challenges.purpose` values)."""

    SIGNUP = "signup"
    PASSWORD_RESET = "password_reset"  # noqa: S105 (a purpose, not a secret)
    EMAIL_CHANGE = "email_change"

    @property
    def action(self) -> str:
        """The name in the verify page's path (/auth/verify-challenge/{action})."""
        return self.value.replace("_", "-")

    @classmethod
    def from_action(cls, action: str) -> Purpose | None:
        """Return the purpose a verify page's path names (any case), or None."""
        try:
            return cls(action.lower().replace("-", "_"))
        except ValueError:
            return None


TEMPLATES: Final = {
    Purpose.SIGNUP: MailTemplate.SIGNUP_CODE,
    Purpose.PASSWORD_RESET: MailTemplate.PASSWORD_RESET_CODE,
    Purpose.EMAIL_CHANGE: MailTemplate.EMAIL_CHANGE_CODE,
}
# Expired challenges are kept a while so a late visitor hears "expired", not "not valid".
EXPIRED_KEPT_FOR: Final = timedelta(days=1)
T = TypeVar("T")


class ResendOutcome(StrEnum):
    """What a resend did; the API answers 204 whatever it is."""

    SENT = "sent"
    TOO_SOON = "too_soon"
    LIMIT_REACHED = "limit_reached"
    CLOSED = "closed"  # verified, expired or locked by wrong codes
    UNKNOWN = "unknown"


class ChallengeService:
    """Open, verify and resend email challenges, and apply what they prove."""

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        settings: ChallengeSettings,
        keys: KeySet,
        accounts: AccountService,
        sessions: SessionService,
        acceptance: InvitationAcceptance,
        throttle: Throttle,
        revoker: Revoker | None = None,
    ) -> None:
        self._db = db
        self._revoker = revoker or Revoker.disabled(clock)  # after commits (Redis)
        self._clock = clock
        self._settings = settings
        self._keys = keys
        self._accounts = accounts
        self._sessions = sessions
        self._acceptance = acceptance
        self._throttle = throttle

    @property
    def enabled(self) -> bool:
        """Tell whether signups are verified by email (and email change is offered)."""
        return self._settings.enabled

    def check_enabled(self) -> None:
        """Refuse (404) what only exists with AUTHARA_CHALLENGE_ENABLED=true."""
        if not self._settings.enabled:
            raise ChallengesDisabled

    # Signup ---------------------------------------------------------------------------------

    async def start_signup(
        self,
        *,
        email: str,
        password: str,
        client_ip: str | None,
        invitation_code: str | None = None,
    ) -> uuid.UUID:
        """Open a signup challenge; an email that has an account gets an opaque one.

        An invitation code is checked only for a new email (400 when it cannot be used);
        once verified, the account joins the invitation's organization.
        """
        self.check_enabled()
        prepared = await self._accounts.prepare_signup(
            email=email, password=password, client_ip=client_ip
        )
        async with self._db.connection() as conn:
            taken = await users.find_user_id_by_email(conn, prepared.email) is not None
        invitation_id = None
        if invitation_code and not taken:
            try:
                invitation = await self._acceptance.pending_invitation(invitation_code)
                if invitation.email.casefold() != prepared.email.casefold():
                    raise InvitationForOtherEmail
            except InvitationUnusable as exc:
                raise InvalidRequest(exc.message) from exc
            invitation_id = invitation.id
        if invitation_id is None:  # an invitation admits its email; anyone else, the allowlist
            await self._accounts.check_signup_allowed(prepared.email)
        async with self._db.transaction() as conn:
            return await self._open_signup_in(
                conn, prepared, opaque=taken, invitation_id=invitation_id
            )

    async def start_invitation_signup(
        self, token: str | None, password: str, *, client_ip: str | None
    ) -> tuple[uuid.UUID, str]:
        """Open a signup challenge for an invitation page's new account.

        Returns the challenge id and the invited email. The invitation is checked now and
        again when the code is verified; an email that has an account is refused (as the
        page does without challenges: the inviter knows the address already).
        """
        self.check_enabled()
        invitation = await self._acceptance.pending_invitation(token)
        prepared = await self._accounts.prepare_signup(
            email=invitation.email, password=password, client_ip=client_ip
        )
        async with self._db.transaction() as conn:
            if await users.find_user_id_by_email(conn, prepared.email) is not None:
                raise EmailTaken
            challenge_id = await self._open_signup_in(
                conn, prepared, opaque=False, invitation_id=invitation.id
            )
        return challenge_id, prepared.email

    async def verify_signup(
        self,
        challenge_id: uuid.UUID,
        code: str,
        *,
        audience: Audience,
        user_agent: str,
        client_ip: str | None,
        in_invited_organization: bool,
    ) -> IssuedSession:
        """Check the code, create the account (joining an invitation's organization), sign in.

        `in_invited_organization` starts the session there (the pages); otherwise it starts
        in the user's default organization (the API, as upstream).
        """
        self.check_enabled()

        async def apply(conn: Connection, challenge: ChallengeRow) -> IssuedSession:
            pending = await store.get_pending_signup(conn, challenge.id)
            if pending is None:  # its invitation's organization was deleted
                raise ChallengeUnknown
            prepared = PreparedSignup(pending.email, pending.password_hash)
            organization_id = None
            if pending.invitation_id is None:
                user = await self._accounts.create_password_user_in(conn, prepared)
            else:
                user, joined = await self._acceptance.signup_invited_in(
                    conn, pending.invitation_id, prepared
                )
                organization_id = joined if in_invited_organization else None
            return await self._sessions.start_in(
                conn,
                user,
                audience=audience,
                user_agent=user_agent,
                client_ip=client_ip,
                organization_id=organization_id,
            )

        return await self._verify(challenge_id, code, Purpose.SIGNUP, client_ip, apply)

    async def _open_signup_in(
        self,
        conn: Connection,
        prepared: PreparedSignup,
        *,
        opaque: bool,
        invitation_id: uuid.UUID | None,
    ) -> uuid.UUID:
        challenge_id = await self._insert_in(
            conn, Purpose.SIGNUP, prepared.email, user_id=None, opaque=opaque
        )
        if not opaque:
            await store.insert_pending_signup(
                conn,
                challenge_id,
                email=prepared.email,
                password_hash=prepared.password_hash,
                invitation_id=invitation_id,
                now=self._clock.now(),
            )
            await self._enqueue_in(conn, Purpose.SIGNUP, prepared.email, challenge_id)
        return challenge_id

    # Password reset -------------------------------------------------------------------------

    async def start_password_reset(
        self, *, email: str, new_password: str, client_ip: str | None
    ) -> uuid.UUID:
        """Open a reset challenge with the new password hashed now.

        An unknown email gets an opaque one. Always available, whether or not signup
        challenges are on.
        """
        await self._throttle.check("password_reset", ip=client_ip, email=email)
        address = validate_email(email)
        password_hash = await self._accounts.hash_new_password(new_password)
        async with self._db.transaction() as conn:
            user_id = await users.find_user_id_by_email(conn, address)
            challenge_id = await self._insert_in(
                conn, Purpose.PASSWORD_RESET, address, user_id=user_id, opaque=user_id is None
            )
            if user_id is not None:
                await store.insert_pending_reset(
                    conn,
                    challenge_id,
                    user_id=user_id,
                    password_hash=password_hash,
                    now=self._clock.now(),
                )
                await self._enqueue_in(conn, Purpose.PASSWORD_RESET, address, challenge_id)
        return challenge_id

    async def verify_password_reset(
        self, challenge_id: uuid.UUID, code: str, *, client_ip: str | None
    ) -> None:
        """Check the code, set the new password and revoke every session of the account.

        An account without a password (signed up with a provider) gets one.
        """
        reset: list[uuid.UUID] = []  # whose sessions ended, once the reset commits

        async def apply(conn: Connection, challenge: ChallengeRow) -> None:
            pending = await store.get_pending_reset(conn, challenge.id)
            if pending is None:
                raise ChallengeUnknown
            await self._accounts.set_password_in(conn, pending.user_id, pending.password_hash)
            now = self._clock.now()
            ended = await end_user_sessions_in(conn, pending.user_id, now)
            by_owner = audit.Actor(user_id=pending.user_id, ip=client_ip)
            event = by_owner.event(
                audit.Action.PASSWORD_RESET,
                target_user_id=pending.user_id,
                target_email=challenge.email,
                metadata={"sessions_ended": ended},
            )
            await audit.record(conn, event, now=now)
            reset.append(pending.user_id)

        await self._verify(challenge_id, code, Purpose.PASSWORD_RESET, client_ip, apply)
        for user_id in reset:
            await self._revoker.user(user_id)

    # Email change ---------------------------------------------------------------------------

    async def start_email_change(self, *, user_id: uuid.UUID, new_email: str) -> uuid.UUID:
        """Open a challenge to the new address; the old one works until it is verified.

        An address another account has gets an opaque challenge.
        """
        self.check_enabled()
        address = validate_email(new_email)
        async with self._db.transaction() as conn:
            user = await users.get_user(conn, user_id)
            if user is None:
                raise Unauthorized
            if user.email == address:
                raise InvalidRequest("That is already your email address.")
            taken = await users.find_user_id_by_email(conn, address) is not None
            challenge_id = await self._insert_in(
                conn, Purpose.EMAIL_CHANGE, address, user_id=user.id, opaque=taken
            )
            if not taken:
                await store.insert_pending_email_change(
                    conn,
                    challenge_id,
                    user_id=user.id,
                    old_email=user.email,
                    new_email=address,
                    now=self._clock.now(),
                )
                await self._enqueue_in(conn, Purpose.EMAIL_CHANGE, address, challenge_id)
        return challenge_id

    async def account_email(self, user_id: uuid.UUID) -> str:
        """Return the signed-in account's current email (the email-change page shows it)."""
        async with self._db.connection() as conn:
            user = await users.get_user(conn, user_id)
        if user is None:
            raise Unauthorized
        return user.email

    async def verify_email_change(
        self, challenge_id: uuid.UUID, code: str, *, client_ip: str | None
    ) -> str:
        """Check the code and move the account to the new address; return it.

        If another account took the address meanwhile, nothing changes (EmailTaken) and the
        challenge stays open.
        """
        self.check_enabled()

        async def apply(conn: Connection, challenge: ChallengeRow) -> str:
            pending = await store.get_pending_email_change(conn, challenge.id)
            if pending is None:
                raise ChallengeUnknown
            if await self._accounts.change_email_in(conn, pending.user_id, pending.new_email):
                by_owner = audit.Actor(user_id=pending.user_id, ip=client_ip)
                event = by_owner.event(
                    audit.Action.EMAIL_CHANGED,
                    target_user_id=pending.user_id,
                    target_email=pending.new_email,
                    metadata={"old_email": pending.old_email, "new_email": pending.new_email},
                )
                await audit.record(conn, event, now=self._clock.now())
            return pending.new_email

        return await self._verify(challenge_id, code, Purpose.EMAIL_CHANGE, client_ip, apply)

    # Resend and housekeeping ----------------------------------------------------------------

    async def resend(self, challenge_id: uuid.UUID, *, client_ip: str | None) -> ResendOutcome:
        """Queue a new code, at most `max_resends` times and `min_resend_interval` apart.

        An opaque challenge counts its resends the same way and sends nothing.
        """
        await self._throttle.check_ip("challenge_resend", ip=client_ip)
        now = self._clock.now()
        async with self._db.transaction() as conn:
            challenge = await store.lock_challenge(conn, challenge_id)
            if challenge is None:
                return ResendOutcome.UNKNOWN
            if _closed(challenge, now):
                return ResendOutcome.CLOSED
            if challenge.resend_count >= challenge.max_resends:
                return ResendOutcome.LIMIT_REACHED
            last = challenge.last_sent_at
            if last is not None and now < last + self._settings.min_resend_interval:
                return ResendOutcome.TOO_SOON
            await store.record_resend(conn, challenge.id, now)
            if not challenge.opaque:
                purpose = Purpose(challenge.purpose)
                await self._enqueue_in(conn, purpose, challenge.email, challenge.id)
        return ResendOutcome.SENT

    async def cleanup(self) -> int:
        """Delete challenges expired for a day, with their codes, pending rows and mails."""
        async with self._db.transaction() as conn:
            return await store.delete_expired(conn, self._clock.now() - EXPIRED_KEPT_FOR)

    # Shared ---------------------------------------------------------------------------------

    async def _insert_in(
        self,
        conn: Connection,
        purpose: Purpose,
        email: str,
        *,
        user_id: uuid.UUID | None,
        opaque: bool,
    ) -> uuid.UUID:
        now = self._clock.now()
        return await store.insert_challenge(
            conn,
            purpose=purpose.value,
            email=email,
            user_id=user_id,
            opaque=opaque,
            expires_at=now + self._settings.ttl,
            max_attempts=self._settings.max_attempts,
            max_resends=self._settings.max_resends,
            now=now,
        )

    async def _enqueue_in(
        self, conn: Connection, purpose: Purpose, email: str, challenge_id: uuid.UUID
    ) -> None:
        await enqueue_in(
            conn,
            template=TEMPLATES[purpose],
            to=email,
            data={},
            now=self._clock.now(),
            challenge_id=challenge_id,
        )

    async def _verify(
        self,
        challenge_id: uuid.UUID,
        code: str,
        purpose: Purpose,
        client_ip: str | None,
        apply: Callable[[Connection, ChallengeRow], Awaitable[T]],
    ) -> T:
        """Check a code and apply the challenge in one transaction; see the module docstring."""
        await self._throttle.check_ip("challenge_verify", ip=client_ip)
        if not codes.is_code(code):
            raise ChallengeCodeWrong  # not counted: it could never have been right
        refusal: ChallengeRefused
        async with self._db.transaction() as conn:
            owner = await store.get_user_id(conn, challenge_id)
            if owner is not None:
                await users.lock_user(conn, owner, exclusive=True)
            challenge = await store.lock_challenge(conn, challenge_id)
            if challenge is None or challenge.purpose != purpose.value:
                raise ChallengeUnknown  # another purpose's challenge is left as it is
            now = self._clock.now()
            _check_open(challenge, now)
            refusal_or_none = await self._check_code(conn, challenge, code, now)
            if refusal_or_none is None:
                if not await store.consume(conn, challenge.id, now):
                    raise ChallengeUsed
                return await apply(conn, challenge)
            refusal = refusal_or_none
            if isinstance(refusal, ChallengeCodeWrong):
                await store.count_attempt(conn, challenge.id, now)
        raise refusal  # after the commit: the attempt stays counted

    async def _check_code(
        self, conn: Connection, challenge: ChallengeRow, code: str, now: datetime
    ) -> ChallengeRefused | None:
        """Return why the code does not verify the challenge, or None when it does."""
        stored = None if challenge.opaque else await store.get_code(conn, challenge.id)
        if stored is None or not codes.matches(
            self._keys, stored.key_id, stored.code_hash, challenge.id, code
        ):
            return ChallengeCodeWrong()
        # Only a holder of the right code learns it expired: a guess hears "wrong" either way.
        if stored.expires_at <= now:
            return ChallengeCodeExpired()
        return None


def _closed(challenge: ChallengeRow, now: datetime) -> bool:
    return (
        challenge.consumed_at is not None
        or challenge.expires_at <= now
        or challenge.attempt_count >= challenge.max_attempts
    )


def _check_open(challenge: ChallengeRow, now: datetime) -> None:
    """Raise why a challenge takes no code any more (used, expired, locked)."""
    if challenge.consumed_at is not None:
        raise ChallengeUsed
    if challenge.expires_at <= now:
        raise ChallengeExpired
    if challenge.attempt_count >= challenge.max_attempts:
        raise ChallengeLocked


async def delete_user_challenges_in(conn: Connection, user_id: uuid.UUID, email: str) -> int:
    """Delete a deleted user's challenges and those for their email, in the caller's transaction."""
    return await store.delete_for_user(conn, user_id, email)


async def delete_password_resets_in(conn: Connection, user_id: uuid.UUID) -> int:
    """Drop a user's pending password resets in the caller's transaction (a new password won)."""
    return await store.delete_open_resets(conn, user_id)
