"""Input guards: regexes match whole values, text must be storable, tokens always hash."""

from __future__ import annotations

import pytest

from authara_contract import database
from authara_contract.return_to import is_safe_return_to
from authara_core.accounts import validation
from authara_core.oauth import config
from authara_core.platform.bodies import check_text
from authara_core.platform.errors import InvalidEmail, InvalidRequest
from authara_core.sessions.tokens import hash_refresh_token, new_refresh_token, successor_token


@pytest.mark.parametrize(
    "email",
    [
        "admin\n@example.com",
        "admin\r@example.com",
        "admin @example.com",
        "ad\tmin@example.com",
        "admin@example\n.com",
        "admin@exam ple.com",
        "admin@example.com\n.evil",
        "admin\u2028@example.com",
        "\ud800@example.com",
    ],
)
def test_emails_with_inner_whitespace_or_bad_text_are_invalid(email: str) -> None:
    with pytest.raises(InvalidEmail):
        validation.validate_email(email)


def test_surrounding_whitespace_is_trimmed() -> None:
    assert validation.validate_email(" Ada@Example.COM\n") == "ada@example.com"


@pytest.mark.parametrize(
    ("pattern", "value"),
    [
        (config._NAME, "corp\n"),
        (database._IDENTIFIER, "public\n"),
        (validation._LOCAL, "admin\n"),
        (validation._DOMAIN_LABEL, "example\n"),
    ],
)
def test_guard_patterns_refuse_a_final_newline(pattern: object, value: str) -> None:
    assert not pattern.fullmatch(value)  # type: ignore[attr-defined]
    assert pattern.fullmatch(value.rstrip("\n"))  # type: ignore[attr-defined]


def test_the_user_agent_is_repaired_not_refused() -> None:
    assert validation.clean_user_agent("probe/\udcff\x00x") == "probe/?x"
    assert len(validation.clean_user_agent("a" * 1000)) == validation.USER_AGENT_MAX
    assert validation.clean_user_agent("Mozilla/5.0 (é)") == "Mozilla/5.0 (é)"


def test_any_presented_token_hashes() -> None:
    issued = new_refresh_token()
    assert hash_refresh_token(issued) == hash_refresh_token(issued.encode().decode())
    assert len(hash_refresh_token("\ud800")) == 64
    assert successor_token("\ud800", b"k" * 32) != successor_token("\ud801", b"k" * 32)


@pytest.mark.parametrize("value", ["/\ud800", "/a\udfff", " /a", "//evil", "/a\\b", "/\x00"])
def test_unsafe_return_to_is_refused(value: str) -> None:
    assert not is_safe_return_to(value)


def test_a_local_return_to_with_text_is_accepted() -> None:
    assert is_safe_return_to("/café?x=1")


@pytest.mark.parametrize("value", ["a\x00b", "\ud800", "x\udfffy"])
def test_text_that_cannot_be_stored_is_refused(value: str) -> None:
    with pytest.raises(InvalidRequest):
        check_text(["fine", value])


def test_storable_text_passes() -> None:
    check_text(["", "plain", "é", "\U0001f600", "\ufffd"])
