"""A refused attempt says when to try again, in the page and in the JSON envelope."""

from __future__ import annotations

import pytest

from authara_core.platform.errors import RateLimited, wait_wording


@pytest.mark.parametrize(
    ("seconds", "wording"),
    [
        (0.2, "in 1 second"),
        (30, "in 30 seconds"),
        (59.5, "in 1 minute"),
        (60, "in 1 minute"),
        (61, "in 2 minutes"),
        (3364, "in 57 minutes"),
        (7199, "in 120 minutes"),
        (7200, "in 2 hours"),
        (86400, "in 24 hours"),
    ],
)
def test_the_wait_is_rounded_up_to_a_readable_unit(seconds: float, wording: str) -> None:
    assert wait_wording(seconds) == wording


def test_a_rate_limit_says_when_and_matches_retry_after() -> None:
    refused = RateLimited(resets_in=3363.2)

    assert refused.message == "Too many attempts. Please try again in 57 minutes."
    assert refused.retry_after_s == 3364


def test_an_explicit_message_is_kept() -> None:
    assert RateLimited("Slow down.", resets_in=5).message == "Slow down."
