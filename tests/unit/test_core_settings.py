"""Core configuration: defaults, validation, one message naming every bad variable."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from authara_contract.database import DatabaseSettings
from authara_contract.env import AppEnv, SettingsError
from authara_core.settings import load_settings
from tests.coresupport import core_env

DB = DatabaseSettings(host="127.0.0.1", port=5432, database="authara", username="postgres")


def test_defaults() -> None:
    env = core_env(DB)
    for name in (
        "APP_ENV",
        "LOG_LEVEL",
        "AUTHARA_PASSWORD_HASH_TIME_COST",
        "AUTHARA_PASSWORD_HASH_MEMORY_KIB",
        "AUTHARA_PASSWORD_HASH_PARALLELISM",
        "AUTHARA_DB_MAX_OPEN_CONNS",
        "POSTGRESQL_SCHEMA",
    ):
        env.pop(name)
    settings = load_settings(env)
    assert settings.app_env is AppEnv.DEV
    assert settings.log_level == "debug"
    assert settings.secure_cookies is False
    assert (settings.bind_host, settings.bind_port) == ("0.0.0.0", 8080)
    assert settings.database.schema == "authara"
    assert settings.tokens.access_ttl == timedelta(minutes=10)
    assert settings.tokens.refresh_ttl == timedelta(days=14)
    assert settings.tokens.session_ttl == timedelta(days=60)
    assert settings.tokens.rotation.interval == timedelta(hours=24)
    assert (
        settings.passwords.time_cost,
        settings.passwords.memory_kib,
        settings.passwords.parallelism,
    ) == (3, 65536, 4)
    assert settings.db_pool_size == 40
    assert settings.default_return_to == "/"
    assert settings.workers == 1
    assert settings.rate_limits.per_worker(1) is settings.rate_limits


def test_missing_required_variables_are_all_named() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({})
    names = {name for name, _ in caught.value.problems}
    assert names == {
        "POSTGRESQL_HOST",
        "POSTGRESQL_PORT",
        "POSTGRESQL_DATABASE",
        "POSTGRESQL_USERNAME",
        "POSTGRESQL_PASSWORD",
        "PUBLIC_URL",
        "AUTHARA_JWT_ISSUER",
        "AUTHARA_JWT_ACTIVE_KEY_ID",
        "AUTHARA_JWT_KEYS",
    }
    assert caught.value.message.startswith("invalid configuration: ")


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("APP_ENV", "staging", "must be one of dev, prod"),
        ("LOG_LEVEL", "loud", "must be one of"),
        ("POSTGRESQL_PORT", "99999", "from 1 to 65535"),
        ("POSTGRESQL_PORT", "abc", "must be an integer"),
        ("POSTGRESQL_SCHEMA", "bad;schema", "plain SQL identifier"),
        ("PUBLIC_URL", "ftp://x", "http(s) URL"),
        ("PUBLIC_URL", "http://x/path", "no path"),
        ("AUTHARA_DEFAULT_RETURN_TO", "//evil.example", "local path"),
        ("AUTHARA_JWT_KEYS", "k:c2hvcnQ=", "at least 32"),
        ("AUTHARA_JWT_ACTIVE_KEY_ID", "missing", "is not a key id"),
        ("AUTHARA_ACCESS_TOKEN_TTL_MINUTES", "0", "from 1"),
        ("AUTHARA_ACCESS_TOKEN_TTL_MINUTES", str(15 * 24 * 60), "shorter than the refresh"),
        ("AUTHARA_REFRESH_TOKEN_TTL_DAYS", "61", "must not exceed"),
        ("AUTHARA_REFRESH_TOKEN_ROTATION_INTERVAL", "sometimes", "off, always or a duration"),
        ("AUTHARA_PASSWORD_HASH_MEMORY_KIB", "1024", "OWASP floor"),
        ("AUTHARA_PASSWORD_HASH_TIME_COST", "1", "OWASP floor"),
        ("AUTHARA_BIND", "8080", "host:port"),
        ("POSTGRESQL_TIMEZONE", "Mars/Olympus", "time zone"),
        ("AUTHARA_WORKERS", "0", "from 1 to 64"),
        ("AUTHARA_WORKERS", "65", "from 1 to 64"),
        ("AUTHARA_ORGANIZATION_INVITATION_TTL", "0s", "positive duration"),
        ("AUTHARA_ORGANIZATION_INVITATION_TTL", "soon", "duration"),
    ],
)
def test_bad_values_are_named(name: str, value: str, why: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(core_env(DB, **{name: value}))
    assert any(n == name and why in w for n, w in caught.value.problems), caught.value.problems


@pytest.mark.parametrize(
    ("limit", "workers", "each"),
    [(10, 1, 10), (10, 2, 5), (5, 2, 2), (10, 3, 3), (1, 4, 1)],
)
def test_rate_limits_are_split_over_workers(limit: int, workers: int, each: int) -> None:
    env = core_env(
        DB,
        AUTHARA_RATE_LIMIT_LOGIN_IP_LIMIT=str(limit),
        AUTHARA_RATE_LIMIT_LOGIN_EMAIL_LIMIT=str(limit),
        AUTHARA_RATE_LIMIT_SIGNUP_IP_LIMIT=str(limit),
        AUTHARA_RATE_LIMIT_SIGNUP_EMAIL_LIMIT=str(limit),
        AUTHARA_WORKERS=str(workers),
    )
    settings = load_settings(env)
    assert settings.workers == workers
    split = settings.rate_limits.per_worker(workers)
    configured = settings.rate_limits
    for rules, original in ((split.login, configured.login), (split.signup, configured.signup)):
        assert (rules.ip.limit, rules.email.limit) == (each, each)
        assert (rules.ip.window, rules.email.window) == (original.ip.window, original.email.window)
    # Together the workers never allow more than the configured limit (unless it is below N).
    assert each * workers <= max(limit, workers)


def test_several_problems_in_one_message() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(core_env(DB, APP_ENV="nope", POSTGRESQL_PORT="x", AUTHARA_JWT_KEYS="bad"))
    assert {n for n, _ in caught.value.problems} >= {
        "APP_ENV",
        "POSTGRESQL_PORT",
        "AUTHARA_JWT_KEYS",
    }


@pytest.mark.parametrize(
    ("raw", "never", "always", "interval"),
    [
        ("off", True, False, None),
        ("", True, False, None),
        ("0", True, False, None),
        ("disabled", True, False, None),
        ("always", False, True, None),
        ("90m", False, False, timedelta(minutes=90)),
    ],
)
def test_rotation_interval(raw: str, never: bool, always: bool, interval: timedelta | None) -> None:
    rotation = load_settings(
        core_env(DB, AUTHARA_REFRESH_TOKEN_ROTATION_INTERVAL=raw)
    ).tokens.rotation
    assert (rotation.never, rotation.always) == (never, always)
    if interval is not None:
        assert rotation.interval == interval
        assert rotation.is_due(interval) and not rotation.is_due(interval - timedelta(seconds=1))


def test_prod_needs_https_and_sets_secure_cookies() -> None:
    with pytest.raises(SettingsError, match="PUBLIC_URL"):
        load_settings(core_env(DB, APP_ENV="prod"))
    settings = load_settings(core_env(DB, APP_ENV="prod", PUBLIC_URL="https://auth.example.com"))
    assert settings.secure_cookies is True
    assert settings.log_level == "warn"


def test_cli_exits_2_with_one_line_and_no_traceback() -> None:
    script = Path(sys.executable).parent / "authara-core"
    result = subprocess.run(
        [str(script)],
        env={"PATH": "/usr/bin:/bin", "POSTGRESQL_PORT": "x"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for name in ("POSTGRESQL_HOST", "POSTGRESQL_PORT", "PUBLIC_URL", "AUTHARA_JWT_KEYS"):
        assert name in lines[0]


@pytest.mark.parametrize(("raw", "token"), [(None, ""), ("", ""), ("  s3cret \t", "s3cret")])
def test_internal_api_token_is_trimmed_defaults_empty_and_stays_out_of_repr(
    raw: str | None, token: str
) -> None:
    env = core_env(DB) | ({} if raw is None else {"AUTHARA_INTERNAL_API_TOKEN": raw})
    settings = load_settings(env)
    assert settings.internal_api_token == token
    assert "s3cret" not in repr(settings)
