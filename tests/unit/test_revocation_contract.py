"""The shared revocation keys, values and check (contract §5.6)."""

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

from authara_contract import revocation
from authara_contract.claims import OrganizationRole
from authara_contract.tokens import AccessClaims

USER = uuid.UUID("11111111-1111-1111-1111-111111111111")
SESSION = uuid.UUID("22222222-2222-2222-2222-222222222222")
ORG = uuid.UUID("33333333-3333-3333-3333-333333333333")
ISSUED = datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC)


def claims(issued: datetime = ISSUED) -> AccessClaims:
    return AccessClaims(
        issuer="authara",
        user_id=USER,
        session_id=SESSION,
        audience=("app",),
        roles=(),
        issued_at=issued,
        expires_at=issued + timedelta(minutes=10),
        organization_id=ORG,
        organization_role=OrganizationRole.OWNER,
    )


def test_keys_are_upstreams() -> None:
    keys = revocation.keys_for("a.b.c", claims())
    assert keys == (
        "authara:access-token:revoked:token:" + hashlib.sha256(b"a.b.c").hexdigest(),
        f"authara:access-token:revoked:session:{SESSION}",
        f"authara:access-token:revoked:user:{USER}",
        f"authara:access-token:revoked:membership:{USER}:{ORG}",
    )


def test_nothing_written_means_valid() -> None:
    assert not revocation.is_revoked(claims(), [None, None, None, None])


def test_token_mark_revokes() -> None:
    assert revocation.is_revoked(claims(), [b"1", None, None, None])


def test_cutoff_revokes_tokens_issued_up_to_it_including_its_second() -> None:
    cutoff = str(revocation.nanoseconds(ISSUED + timedelta(milliseconds=400)))
    for position in (1, 2, 3):
        values: list[bytes | str | None] = [None, None, None, None]
        values[position] = cutoff
        assert revocation.is_revoked(claims(), values)
        assert not revocation.is_revoked(claims(ISSUED + timedelta(seconds=1)), values)


def test_garbage_cutoff_fails_closed() -> None:
    assert revocation.is_revoked(claims(), [None, b"not-a-number", None, None])


def test_token_revocation_lives_for_the_tokens_remaining_life() -> None:
    now = ISSUED + timedelta(minutes=9, seconds=59, milliseconds=500)
    written = revocation.Revocation.token("a.b.c", ISSUED + timedelta(minutes=10), now)
    assert written is not None
    assert (written.value, written.ttl_ms) == ("1", 500)
    assert revocation.Revocation.token("a.b.c", ISSUED, now) is None


def test_cutoff_lives_one_access_token_lifetime() -> None:
    written = revocation.Revocation.cutoff(revocation.user_key(USER), ISSUED, 600)
    assert written.value == str(int(ISSUED.timestamp()) * 1_000_000_000)
    assert written.ttl_ms == 600_000


def test_messages_round_trip_and_refuse_strangers() -> None:
    written = revocation.Revocation.cutoff(revocation.session_key(SESSION), ISSUED, 600)
    assert revocation.Revocation.from_message(written.message()) == written
    assert revocation.Revocation.from_message(written.message().encode()) == written
    for raw in (
        "",
        "[]",
        "{}",
        '{"key":"other:x","value":"1","ttl_ms":5}',
        '{"key":"authara:access-token:revoked:x","value":1,"ttl_ms":5}',
        '{"key":"authara:access-token:revoked:x","value":"1","ttl_ms":0}',
        '{"key":"authara:access-token:revoked:x","value":"1","ttl_ms":true}',
    ):
        assert revocation.Revocation.from_message(raw) is None
