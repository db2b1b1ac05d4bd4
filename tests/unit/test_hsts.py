"""Strict-Transport-Security: only in prod behind https, max-age configurable, 0 turns it off."""

from __future__ import annotations

import pytest

from authara_contract.database import DatabaseSettings
from authara_contract.env import SettingsError
from authara_core.platform.csp import HSTS_HEADER, security_headers
from authara_core.settings import load_settings
from tests.coresupport import core_env

DB = DatabaseSettings(host="127.0.0.1", port=5432, database="authara", username="postgres")
HTTPS = "https://auth.example.com"


def hsts(**overrides: str) -> str | None:
    return load_settings(core_env(DB, **overrides)).hsts


def test_prod_behind_https_sends_one_year_without_subdomains_by_default() -> None:
    assert hsts(APP_ENV="prod", PUBLIC_URL=HTTPS) == "max-age=31536000"


def test_max_age_and_subdomains_are_configurable() -> None:
    value = hsts(
        APP_ENV="prod",
        PUBLIC_URL=HTTPS,
        AUTHARA_HSTS_MAX_AGE="600",
        AUTHARA_HSTS_INCLUDE_SUBDOMAINS="true",
    )
    assert value == "max-age=600; includeSubDomains"


@pytest.mark.parametrize(
    "overrides",
    [
        {"APP_ENV": "prod", "PUBLIC_URL": HTTPS, "AUTHARA_HSTS_MAX_AGE": "0"},
        {"APP_ENV": "dev", "PUBLIC_URL": HTTPS},
        {"APP_ENV": "dev", "PUBLIC_URL": "http://127.0.0.1:3000"},
    ],
)
def test_no_header_outside_prod_behind_https_or_when_disabled(overrides: dict[str, str]) -> None:
    assert hsts(**overrides) is None


@pytest.mark.parametrize("value", ["-1", "a year", "1y"])
def test_max_age_must_be_a_whole_number_of_seconds(value: str) -> None:
    with pytest.raises(SettingsError, match="AUTHARA_HSTS_MAX_AGE"):
        hsts(APP_ENV="prod", PUBLIC_URL=HTTPS, AUTHARA_HSTS_MAX_AGE=value)


def test_security_headers_carry_hsts_only_when_given() -> None:
    assert HSTS_HEADER not in security_headers(google=False)
    assert HSTS_HEADER not in security_headers(google=True, hsts=None)
    headers = security_headers(google=True, hsts="max-age=60")
    assert headers[HSTS_HEADER] == "max-age=60"
    assert "accounts.google.com" in headers["Content-Security-Policy"]
