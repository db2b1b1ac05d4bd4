"""Gateway building blocks: upstream pool, token cache, cookie rewriting, path protection."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Final

import pytest

from authara_contract.claims import Audience, OrganizationRole
from authara_contract.tokens import KeySet, encode_access_token
from authara_gateway.identity import IdentityVerifier
from authara_gateway.protection import ProtectedPaths
from authara_gateway.settings import IdentitySettings, Upstream
from authara_gateway.upstreams import UpstreamPool

A, B, C = Upstream("a", 1), Upstream("b", 2), Upstream("c", 3)
KEYS: Final = KeySet(keys={"k1": b"s" * 32}, active_kid="k1")
ISSUER: Final = "https://auth.test"
NOW: Final = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --- upstream pool ---------------------------------------------------------------------------


def test_pool_takes_turns() -> None:
    pool = UpstreamPool([A, B, C], fail_duration=10, clock=FakeClock())

    firsts = [pool.candidates()[0] for _ in range(6)]

    assert firsts == [A, B, C, A, B, C]
    assert pool.candidates() == (A, B, C)


def test_a_failed_upstream_is_skipped_until_its_time_is_up() -> None:
    clock = FakeClock()
    pool = UpstreamPool([A, B, C], fail_duration=10, clock=clock)

    pool.mark_failed(B)

    assert pool.is_down(B)
    assert [pool.candidates()[0] for _ in range(4)] == [A, C, C, A]
    assert pool.candidates()[-1] == B  # still tried, last, if all others fail
    clock.now = 10.0
    assert not pool.is_down(B)
    assert B in {pool.candidates()[0] for _ in range(3)}


def test_when_all_are_down_the_longest_failed_comes_first() -> None:
    clock = FakeClock()
    pool = UpstreamPool([A, B], fail_duration=10, clock=clock)
    pool.mark_failed(B)
    clock.now = 1.0
    pool.mark_failed(A)

    assert pool.candidates() == (B, A)
    assert pool.candidates() == (B, A)


def test_fail_duration_zero_never_skips() -> None:
    pool = UpstreamPool([A, B], fail_duration=0, clock=FakeClock())

    pool.mark_failed(A)

    assert not pool.is_down(A)
    assert {pool.candidates()[0] for _ in range(2)} == {A, B}


def test_pool_needs_an_upstream() -> None:
    with pytest.raises(ValueError, match="at least one"):
        UpstreamPool([], fail_duration=1)


# --- verified-token cache ----------------------------------------------------------------------


def _token(*, ttl: timedelta = timedelta(minutes=10), keys: KeySet = KEYS) -> str:
    return encode_access_token(
        keys=keys,
        issuer=ISSUER,
        user_id=uuid.uuid4(),
        session_id=uuid.uuid4(),
        organization_id=uuid.uuid4(),
        organization_role=OrganizationRole.MEMBER,
        audience=Audience.APP,
        roles=("authara:admin",),
        now=datetime.now(UTC),
        ttl=ttl,
    )


def _verifier(clock: FakeClock, cache_size: int = 3) -> IdentityVerifier:
    return IdentityVerifier(
        IdentitySettings(keys=KEYS, issuer=ISSUER), cache_size=cache_size, clock=clock
    )


def test_a_verified_token_is_cached_until_it_expires() -> None:
    clock = FakeClock(datetime.now(UTC).timestamp())
    verifier = _verifier(clock)
    token = _token(ttl=timedelta(minutes=1))

    first = verifier.verify(token)
    assert first is not None
    assert verifier.verify(token) is first
    assert verifier.cached == 1
    assert dict(first.headers)["X-Authara-Roles"] == "authara:admin"

    clock.now = first.expires  # exp has come: no leeway, as core
    assert verifier.verify(token) is None
    assert verifier.cached == 0


def test_the_cache_is_bounded_and_drops_the_oldest() -> None:
    clock = FakeClock(datetime.now(UTC).timestamp())
    verifier = _verifier(clock, cache_size=3)
    tokens = [_token() for _ in range(5)]

    for token in tokens:
        assert verifier.verify(token) is not None

    assert verifier.cached == 3


def test_tokens_that_fail_are_not_cached() -> None:
    verifier = _verifier(FakeClock(datetime.now(UTC).timestamp()))
    good = _token()
    header, payload, signature = good.split(".")
    tampered = f"{header}.{payload}.{signature[:-2]}AA"
    unknown_kid = _token(keys=KeySet(keys={"k9": b"s" * 32}, active_kid="k9"))

    for bad in (tampered, unknown_kid, "garbage", "", None):
        assert verifier.verify(bad) is None
    assert verifier.cached == 0


def test_a_token_past_its_exp_is_refused_even_if_the_signature_is_fine() -> None:
    verifier = _verifier(FakeClock(datetime.now(UTC).timestamp() + 3600))

    assert verifier.verify(_token(ttl=timedelta(minutes=10))) is None
    assert verifier.cached == 0


# --- protected paths ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "covered"),
    [
        ("/private", True),
        ("/private/", True),
        ("/private/a/b", True),
        ("//private", True),
        ("/x/../private/a", True),
        ("/./private", True),
        ("/Private/A", True),
        ("/private;jsessionid=1/a", True),
        ("/account/settings", True),
        ("/privateer", False),
        ("/public/private", False),
        ("/", False),
        ("/private/..", True),  # an app that leaves `..` alone routes it under /private
        ("/private.", True),
        ("/private. .", True),
        ("/private ", True),
        ("/private\\x", True),
        ("/private:x", True),
        ("/private%2F", True),  # decoded once more, as an app decoding twice would
        ("/private%2520", True),
        ("/private\x00", True),
        ("/x/..\\private", True),
        ("/priv", False),
        ("/private-x", False),
        ("/\uff50rivate", False),  # a fullwidth p: no app routes it to /private
    ],
)
def test_protected_prefixes_match_whole_segments_after_normalising(
    path: str, covered: bool
) -> None:
    protected = ProtectedPaths(["/private", "/Account/"])

    assert protected.covers(path) is covered


def test_protecting_the_root_covers_everything_and_none_covers_nothing() -> None:
    assert ProtectedPaths(["/"]).covers("/anything/at/all")
    assert not ProtectedPaths([]).covers("/private")
    assert not ProtectedPaths([])
