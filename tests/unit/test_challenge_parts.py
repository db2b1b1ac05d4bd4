"""Email challenges without a database: codes and their HMACs, purposes, settings."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from authara_contract.database import DatabaseSettings
from authara_contract.env import SettingsError
from authara_contract.tokens import KeySet
from authara_core.challenges import codes
from authara_core.challenges.service import Purpose
from authara_core.platform.ratelimit import Limit, ThrottleRules
from authara_core.settings import load_settings
from tests.coresupport import core_env

DB = DatabaseSettings(host="127.0.0.1", port=5432, database="authara", username="postgres")
OLD, NEW = b"o" * 32, b"n" * 32


def test_codes_are_six_ascii_digits_from_the_whole_range() -> None:
    drawn = [codes.new_code() for _ in range(3000)]
    assert all(codes.is_code(code) for code in drawn)
    # Leading zeros are kept (000000-999999): about a tenth of the codes start with 0.
    assert any(code.startswith("0") for code in drawn)
    assert len(set(drawn)) > 2900


@pytest.mark.parametrize("value", ["12345", "1234567", "12a456", "١٢٣٤٥٦", "12 456", "", "+12345"])
def test_only_six_ascii_digits_are_a_code(value: str) -> None:
    assert not codes.is_code(value)


def test_a_code_verifies_under_the_key_it_was_made_with_while_that_key_is_listed() -> None:
    challenge = uuid.uuid4()
    stored = codes.code_hash(OLD, challenge, "012345")
    assert len(stored) == 64 and "012345" not in stored
    rotated = KeySet({"old": OLD, "new": NEW}, "new")
    assert codes.matches(rotated, "old", stored, challenge, "012345")
    assert not codes.matches(rotated, "old", stored, challenge, "012346")
    assert not codes.matches(rotated, "new", stored, challenge, "012345")
    assert not codes.matches(KeySet({"new": NEW}, "new"), "old", stored, challenge, "012345")
    # The challenge id is part of the message: the same code elsewhere is another hash.
    assert not codes.matches(rotated, "old", stored, uuid.uuid4(), "012345")


def test_purposes_and_the_verify_pages_actions() -> None:
    assert [p.action for p in Purpose] == ["signup", "password-reset", "email-change"]
    assert Purpose.from_action("Password-Reset") is Purpose.PASSWORD_RESET
    assert Purpose.from_action("EMAIL-CHANGE") is Purpose.EMAIL_CHANGE
    assert Purpose.from_action("password_reset") is Purpose.PASSWORD_RESET
    assert Purpose.from_action("unlock") is None


def test_challenge_settings_defaults_follow_upstream() -> None:
    settings = load_settings(core_env(DB))
    challenges = settings.challenges
    assert challenges.enabled is False
    assert challenges.ttl == timedelta(minutes=30)
    assert challenges.code_ttl == timedelta(minutes=10)
    assert (challenges.max_attempts, challenges.max_resends) == (5, 3)
    assert challenges.min_resend_interval == timedelta(seconds=30)
    env = core_env(DB)
    for name in list(env):
        if name.startswith(("AUTHARA_RATE_LIMIT_PASSWORD", "AUTHARA_RATE_LIMIT_CHALLENGE")):
            del env[name]
    limits = load_settings(env).rate_limits
    assert limits.password_reset == ThrottleRules(
        ip=Limit(5, timedelta(hours=1)), email=Limit(3, timedelta(hours=24))
    )
    assert limits.challenge_verify == Limit(30, timedelta(minutes=10))
    assert limits.challenge_resend == Limit(10, timedelta(hours=1))
    assert limits.per_worker(2).challenge_verify == Limit(15, timedelta(minutes=10))


def test_bad_challenge_settings_are_named() -> None:
    env = core_env(
        DB,
        AUTHARA_CHALLENGE_ENABLED="maybe",
        AUTHARA_CHALLENGE_TTL="5m",
        AUTHARA_CHALLENGE_VERIFICATION_CODE_TTL="10m",
        AUTHARA_CHALLENGE_MAX_ATTEMPTS="0",
        AUTHARA_CHALLENGE_MAX_RESENDS="-1",
        AUTHARA_CHALLENGE_MIN_RESEND_INTERVAL="-1s",
    )
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    named = {name for name, _ in caught.value.problems}
    assert named == {
        "AUTHARA_CHALLENGE_ENABLED",
        "AUTHARA_CHALLENGE_VERIFICATION_CODE_TTL",
        "AUTHARA_CHALLENGE_MAX_ATTEMPTS",
        "AUTHARA_CHALLENGE_MAX_RESENDS",
        "AUTHARA_CHALLENGE_MIN_RESEND_INTERVAL",
    }
    zero = load_settings(core_env(DB, AUTHARA_CHALLENGE_MAX_RESENDS="0"))
    assert zero.challenges.max_resends == 0
