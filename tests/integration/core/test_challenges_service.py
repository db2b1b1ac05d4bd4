"""Email challenges below HTTP, on a real database: every state a challenge can be in, codes
made by the composers the mail worker runs, key rotation, resends, concurrency, cleanup.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from authara_contract.claims import Audience
from authara_contract.database import DatabaseSettings
from authara_core.app import Services, build_services
from authara_core.challenges.service import ResendOutcome
from authara_core.mail.outbox import EmailJob, MailTemplate
from authara_core.oauth.secrets import new_secret
from authara_core.platform.errors import (
    ChallengeCodeExpired,
    ChallengeCodeWrong,
    ChallengeExpired,
    ChallengeLocked,
    ChallengesDisabled,
    ChallengeUnknown,
    ChallengeUsed,
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
)
from authara_core.settings import load_settings
from tests.coresupport import TEST_KEY, TEST_KID, FakeClock, core_env
from tests.integration.core.challengesupport import (
    CHALLENGE_ON,
    NEW_PASSWORD,
    PASSWORD,
    code_for,
    deliver,
    jobs,
    wrong,
)

IP = "192.0.2.7"
OTHER_KEY = base64.b64encode(b"o" * 32).decode()


@asynccontextmanager
async def _running(db: DatabaseSettings, clock: FakeClock, **env: str) -> AsyncIterator[Services]:
    settings = load_settings(core_env(db, **(CHALLENGE_ON | env)))
    services = build_services(settings, clock=clock, oauth_secrets=new_secret)
    await services.database.open()
    try:
        await services.organizations.pin_mode()
        yield services
    finally:
        await services.database.close()
        services.hasher.close()


@pytest.fixture
async def app(db: DatabaseSettings, clock: FakeClock) -> AsyncIterator[Services]:
    async with _running(db, clock) as services:
        yield services


async def _signup_code(
    app: Services, conn: asyncpg.Connection, email: str
) -> tuple[uuid.UUID, str]:
    challenge_id = await app.challenges.start_signup(email=email, password=PASSWORD, client_ip=IP)
    return challenge_id, await code_for(conn, app.mail_composers, app.clock.now(), challenge_id)


async def _verify_signup(app: Services, challenge_id: uuid.UUID, code: str) -> Any:
    return await app.challenges.verify_signup(
        challenge_id,
        code,
        audience=Audience.APP,
        user_agent="test",
        client_ip=IP,
        in_invited_organization=False,
    )


async def _attempts(conn: asyncpg.Connection, challenge_id: uuid.UUID) -> int:
    count: int = await conn.fetchval(
        "SELECT attempt_count FROM challenges WHERE id = $1", challenge_id
    )
    return count


async def test_a_signup_code_creates_the_account_once_and_wrong_codes_count(
    app: Services, conn: asyncpg.Connection
) -> None:
    challenge_id, code = await _signup_code(app, conn, "Ada@Example.com ")
    assert await conn.fetchval("SELECT count(*) FROM users") == 0
    stored = await conn.fetchrow("SELECT * FROM verification_codes")
    assert stored["key_id"] == TEST_KID
    assert len(stored["code_hash"]) == 64 and code not in stored["code_hash"]
    with pytest.raises(ChallengeCodeWrong):
        await _verify_signup(app, challenge_id, wrong(code))
    with pytest.raises(ChallengeCodeWrong):  # not a code at all: refused, not counted
        await _verify_signup(app, challenge_id, "12345")
    assert await _attempts(conn, challenge_id) == 1
    issued = await _verify_signup(app, challenge_id, code)
    assert issued.user.email == "ada@example.com"
    assert await conn.fetchval("SELECT count(*) FROM verification_codes") == 0
    with pytest.raises(ChallengeUsed):
        await _verify_signup(app, challenge_id, code)
    assert await conn.fetchval("SELECT count(*) FROM users") == 1
    # The password captured when the challenge opened is the account's password.
    assert await app.accounts.authenticate(email="ada@example.com", password=PASSWORD, client_ip=IP)


async def test_too_many_wrong_codes_lock_the_challenge_even_for_the_right_code(
    app: Services, conn: asyncpg.Connection
) -> None:
    challenge_id, code = await _signup_code(app, conn, "ada@example.com")
    for _ in range(5):
        with pytest.raises(ChallengeCodeWrong):
            await _verify_signup(app, challenge_id, wrong(code))
    with pytest.raises(ChallengeLocked):
        await _verify_signup(app, challenge_id, code)
    assert await _attempts(conn, challenge_id) == 5
    assert await app.challenges.resend(challenge_id, client_ip=IP) is ResendOutcome.CLOSED


async def test_expiry_of_the_code_and_of_the_challenge(
    app: Services, conn: asyncpg.Connection, clock: FakeClock
) -> None:
    challenge_id, code = await _signup_code(app, conn, "ada@example.com")
    clock.advance(minutes=10, seconds=1)
    # A guess hears "wrong" (and counts); only the holder of the real code hears "expired".
    with pytest.raises(ChallengeCodeWrong):
        await _verify_signup(app, challenge_id, wrong(code))
    with pytest.raises(ChallengeCodeExpired):
        await _verify_signup(app, challenge_id, code)
    assert await _attempts(conn, challenge_id) == 1
    clock.advance(minutes=15)  # 25 minutes in: a new code lives until the challenge ends
    assert await app.challenges.resend(challenge_id, client_ip=IP) is ResendOutcome.SENT
    [mail] = await deliver(conn, app.mail_composers, clock.now())
    assert mail.expires_in_minutes == 5
    expiries = await conn.fetchrow(
        "SELECT c.expires_at AS challenge, v.expires_at AS code FROM challenges c"
        " JOIN verification_codes v ON v.challenge_id = c.id"
    )
    assert expiries["code"] == expiries["challenge"]
    clock.advance(minutes=5)
    with pytest.raises(ChallengeExpired):
        await _verify_signup(app, challenge_id, mail.code)
    assert await app.challenges.resend(challenge_id, client_ip=IP) is ResendOutcome.CLOSED


async def test_a_challenge_of_another_purpose_is_unknown_and_left_untouched(
    app: Services, conn: asyncpg.Connection
) -> None:
    challenge_id, code = await _signup_code(app, conn, "ada@example.com")
    with pytest.raises(ChallengeUnknown):
        await app.challenges.verify_password_reset(challenge_id, code, client_ip=IP)
    with pytest.raises(ChallengeUnknown):
        await _verify_signup(app, uuid.uuid4(), code)
    assert await _attempts(conn, challenge_id) == 0
    assert (await _verify_signup(app, challenge_id, code)).user.email == "ada@example.com"


async def test_opaque_challenges_get_no_mail_and_never_verify(
    app: Services, conn: asyncpg.Connection, clock: FakeClock
) -> None:
    await _verify_signup(app, *await _signup_code(app, conn, "ada@example.com"))
    before = await jobs(conn)
    taken = await app.challenges.start_signup(
        email="ada@example.com", password=PASSWORD, client_ip=IP
    )
    unknown = await app.challenges.start_password_reset(
        email="nobody@example.com", new_password=NEW_PASSWORD, client_ip=IP
    )
    assert await jobs(conn) == before  # nothing queued for either
    assert await deliver(conn, app.mail_composers, clock.now()) == []
    rows = await conn.fetch("SELECT opaque, resend_count, max_resends FROM challenges WHERE opaque")
    assert len(rows) == 2
    for _ in range(5):
        with pytest.raises(ChallengeCodeWrong):
            await _verify_signup(app, taken, "000000")
    with pytest.raises(ChallengeLocked):
        await _verify_signup(app, taken, "000000")
    # Resends are counted like a real challenge's, so the answers look the same; none is sent.
    outcomes = []
    for _ in range(4):
        clock.advance(seconds=31)
        outcomes.append(await app.challenges.resend(unknown, client_ip=IP))
    assert outcomes == [ResendOutcome.SENT] * 3 + [ResendOutcome.LIMIT_REACHED]
    assert await jobs(conn) == before
    with pytest.raises(ChallengeCodeWrong):
        await app.challenges.verify_password_reset(unknown, "000000", client_ip=IP)


async def test_resends_are_limited_in_number_and_spaced_and_replace_the_code(
    app: Services, conn: asyncpg.Connection, clock: FakeClock
) -> None:
    challenge_id, first = await _signup_code(app, conn, "ada@example.com")
    assert await app.challenges.resend(challenge_id, client_ip=IP) is ResendOutcome.TOO_SOON
    clock.advance(seconds=30)
    assert await app.challenges.resend(challenge_id, client_ip=IP) is ResendOutcome.SENT
    second = await code_for(conn, app.mail_composers, clock.now(), challenge_id)
    for _ in range(2):
        clock.advance(seconds=30)
        assert await app.challenges.resend(challenge_id, client_ip=IP) is ResendOutcome.SENT
    clock.advance(seconds=30)
    assert await app.challenges.resend(challenge_id, client_ip=IP) is ResendOutcome.LIMIT_REACHED
    assert await app.challenges.resend(uuid.uuid4(), client_ip=IP) is ResendOutcome.UNKNOWN
    assert [job["template"] for job in await jobs(conn)] == ["signup_code"] * 4
    last = await code_for(conn, app.mail_composers, clock.now(), challenge_id)
    if first != last:  # one code lives at a time: the newest
        with pytest.raises(ChallengeCodeWrong):
            await _verify_signup(app, challenge_id, first)
    if second != last:
        with pytest.raises(ChallengeCodeWrong):
            await _verify_signup(app, challenge_id, second)
    await _verify_signup(app, challenge_id, last)
    assert await app.challenges.resend(challenge_id, client_ip=IP) is ResendOutcome.CLOSED


async def test_the_composer_drops_mails_of_challenges_that_take_no_code(
    app: Services, conn: asyncpg.Connection, clock: FakeClock
) -> None:
    used, code = await _signup_code(app, conn, "ada@example.com")
    await _verify_signup(app, used, code)
    late = await app.challenges.start_signup(
        email="bob@example.com", password=PASSWORD, client_ip=IP
    )
    clock.advance(minutes=31)
    assert await deliver(conn, app.mail_composers, clock.now()) == []
    # A job naming a challenge of another purpose gets no code either.
    other = await app.challenges.start_signup(
        email="cy@example.com", password=PASSWORD, client_ip=IP
    )
    await conn.execute(
        "UPDATE email_jobs SET template = 'password_reset_code' WHERE challenge_id = $1", other
    )
    assert await deliver(conn, app.mail_composers, clock.now()) == []
    assert await conn.fetchval("SELECT count(*) FROM verification_codes") == 0
    assert late != other
    unrelated = EmailJob(uuid.uuid4(), MailTemplate.SIGNUP_CODE, "x@example.com", {}, None, 0)
    assert await app.mail_composers[MailTemplate.SIGNUP_CODE](conn, unrelated, clock.now()) is None


async def test_codes_survive_a_key_rotation_while_the_old_key_stays_configured(
    db: DatabaseSettings, conn: asyncpg.Connection, clock: FakeClock
) -> None:
    async with _running(db, clock) as before:
        challenge_id, code = await _signup_code(before, conn, "ada@example.com")
        retired, _ = await _signup_code(before, conn, "bob@example.com")
    keys = f"{TEST_KID}:{TEST_KEY},new:{OTHER_KEY}"
    async with _running(db, clock, AUTHARA_JWT_KEYS=keys, AUTHARA_JWT_ACTIVE_KEY_ID="new") as app:
        assert (await _verify_signup(app, challenge_id, code)).user.email == "ada@example.com"
        clock.advance(seconds=30)
        await app.challenges.resend(retired, client_ip=IP)
        await code_for(conn, app.mail_composers, clock.now(), retired)
        assert await conn.fetchval("SELECT key_id FROM verification_codes") == "new"
    async with _running(db, clock) as without_new:  # the key the code was made with is gone
        with pytest.raises(ChallengeCodeWrong):
            await _verify_signup(without_new, retired, "000000")


async def test_two_verifications_of_one_code_at_once_apply_it_once(
    app: Services, conn: asyncpg.Connection
) -> None:
    challenge_id, code = await _signup_code(app, conn, "ada@example.com")
    results = await asyncio.gather(
        *(_verify_signup(app, challenge_id, code) for _ in range(4)), return_exceptions=True
    )
    applied = [r for r in results if not isinstance(r, BaseException)]
    assert len(applied) == 1, results
    assert all(isinstance(r, ChallengeUsed) for r in results if r not in applied)
    assert await conn.fetchval("SELECT count(*) FROM users") == 1
    assert await conn.fetchval("SELECT count(*) FROM sessions") == 1


async def test_reset_sets_a_password_for_a_provider_only_account_and_ends_its_sessions(
    app: Services, conn: asyncpg.Connection
) -> None:
    async with app.database.transaction() as tx:  # an account made by a sign-in provider
        user = await app.accounts.insert_user_in(tx, "oauth@example.com")
        issued = await app.sessions.start_in(tx, user, audience=Audience.APP, user_agent="t")
    challenge_id = await app.challenges.start_password_reset(
        email="OAuth@example.com", new_password=NEW_PASSWORD, client_ip=IP
    )
    code = await code_for(conn, app.mail_composers, app.clock.now(), challenge_id)
    await app.challenges.verify_password_reset(challenge_id, code, client_ip=IP)
    assert await app.accounts.authenticate(
        email="oauth@example.com", password=NEW_PASSWORD, client_ip=IP
    )
    with pytest.raises(InvalidRefreshToken):
        await app.sessions.refresh(issued.refresh_token, audience=Audience.APP)
    with pytest.raises(ChallengeUsed):
        await app.challenges.verify_password_reset(challenge_id, code, client_ip=IP)
    with pytest.raises(InvalidCredentials):
        await app.accounts.authenticate(email="oauth@example.com", password=PASSWORD, client_ip=IP)


async def test_an_email_change_that_lost_its_address_changes_nothing(
    app: Services, conn: asyncpg.Connection
) -> None:
    ada = await _verify_signup(app, *await _signup_code(app, conn, "ada@example.com"))
    challenge_id = await app.challenges.start_email_change(
        user_id=ada.user.id, new_email="New@Example.com"
    )
    code = await code_for(conn, app.mail_composers, app.clock.now(), challenge_id)
    assert await conn.fetchval("SELECT email FROM users") == "ada@example.com"
    await _verify_signup(app, *await _signup_code(app, conn, "new@example.com"))
    with pytest.raises(EmailTaken):
        await app.challenges.verify_email_change(challenge_id, code, client_ip=IP)
    emails = await conn.fetch("SELECT email FROM users ORDER BY email")
    assert [r["email"] for r in emails] == ["ada@example.com", "new@example.com"]
    consumed = await conn.fetchval("SELECT consumed_at FROM challenges WHERE id = $1", challenge_id)
    assert consumed is None


async def test_deleting_a_user_deletes_their_challenges_and_those_for_their_email(
    app: Services, conn: asyncpg.Connection
) -> None:
    ada = await _verify_signup(app, *await _signup_code(app, conn, "ada@example.com"))
    await app.challenges.start_password_reset(
        email="ada@example.com", new_password=NEW_PASSWORD, client_ip=IP
    )
    await app.challenges.start_signup(email="ada@example.com", password=PASSWORD, client_ip=IP)
    await app.challenges.start_email_change(user_id=ada.user.id, new_email="ada2@example.com")
    kept = await app.challenges.start_signup(
        email="bob@example.com", password=PASSWORD, client_ip=IP
    )
    await app.organization_management.delete_user(ada.user.id)
    left = await conn.fetch("SELECT id FROM challenges")
    assert [r["id"] for r in left] == [kept]
    assert {job["to_email"] for job in await jobs(conn)} == {"bob@example.com"}
    assert await conn.fetchval("SELECT count(*) FROM pending_password_resets") == 0
    assert await conn.fetchval("SELECT count(*) FROM pending_email_changes") == 0


async def test_cleanup_deletes_challenges_a_day_after_they_expired(
    app: Services, conn: asyncpg.Connection, clock: FakeClock
) -> None:
    old = await app.challenges.start_signup(
        email="ada@example.com", password=PASSWORD, client_ip=IP
    )
    clock.advance(hours=24, minutes=1)
    recent = await app.challenges.start_signup(
        email="bob@example.com", password=PASSWORD, client_ip=IP
    )
    clock.advance(minutes=30)
    assert await app.challenges.cleanup() == 1
    assert [r["id"] for r in await conn.fetch("SELECT id FROM challenges")] == [recent]
    assert old != recent


async def test_signup_and_email_change_need_challenges_enabled(
    db: DatabaseSettings, clock: FakeClock
) -> None:
    async with _running(db, clock, AUTHARA_CHALLENGE_ENABLED="false") as app:
        calls: list[Callable[[], Any]] = [
            lambda: app.challenges.start_signup(
                email="a@example.com", password=PASSWORD, client_ip=IP
            ),
            lambda: app.challenges.start_email_change(
                user_id=uuid.uuid4(), new_email="a@example.com"
            ),
            lambda: _verify_signup(app, uuid.uuid4(), "000000"),
        ]
        for call in calls:
            with pytest.raises(ChallengesDisabled):
                await call()
        # Password reset does not depend on the flag.
        assert await app.challenges.start_password_reset(
            email="a@example.com", new_password=NEW_PASSWORD, client_ip=IP
        )
