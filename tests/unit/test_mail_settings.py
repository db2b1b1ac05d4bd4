"""AUTHARA_EMAIL_*: upstream's defaults, what smtp requires, one message naming every problem."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from authara_contract.database import DatabaseSettings
from authara_contract.env import SettingsError
from authara_core.mail.config import EmailProvider, SmtpSettings
from authara_core.settings import load_settings
from tests.coresupport import core_env

DB = DatabaseSettings(host="127.0.0.1", port=5432, database="authara", username="postgres")
SMTP = {
    "AUTHARA_EMAIL_PROVIDER": "smtp",
    "AUTHARA_EMAIL_FROM": "Authara <no-reply@example.com>",
    "AUTHARA_EMAIL_SMTP_HOST": "smtp.example.com",
}


def _problems(**env: str) -> dict[str, str]:
    with pytest.raises(SettingsError) as caught:
        load_settings(core_env(DB, **env))
    return dict(caught.value.problems)


def test_defaults_are_upstreams() -> None:
    settings = load_settings(core_env(DB))
    mail = settings.mail
    assert mail.provider is EmailProvider.NOOP
    assert mail.smtp is None
    assert mail.timeout == timedelta(seconds=10)
    assert mail.stale_after == timedelta(seconds=30)
    assert mail.worker_count == 2
    assert mail.poll_interval == timedelta(seconds=2)
    assert mail.max_attempts == 10
    assert mail.cleanup_sent_after == timedelta(hours=720)
    assert mail.cleanup_failed_after == timedelta(hours=2160)
    assert settings.invitation_email_include_code is False


def test_smtp_with_its_defaults() -> None:
    mail = load_settings(core_env(DB, **(SMTP | {"AUTHARA_EMAIL_PROVIDER": "SMTP"}))).mail
    assert mail.provider is EmailProvider.SMTP
    assert mail.sender == "Authara <no-reply@example.com>"
    assert mail.smtp == SmtpSettings(host="smtp.example.com", port=587, tls=True)
    assert mail.smtp.authenticates is False


def test_smtp_requires_a_sender_and_a_host() -> None:
    problems = _problems(AUTHARA_EMAIL_PROVIDER="smtp")
    assert problems.keys() == {"AUTHARA_EMAIL_FROM", "AUTHARA_EMAIL_SMTP_HOST"}


@pytest.mark.parametrize(
    "sender",
    [
        "no-reply@example.com\r\nBcc: eve@example.com",
        "no-reply@example.com\n",
        "not an address",
        "a@example.com, b@example.com",
        "@example.com",
    ],
)
def test_a_sender_that_is_not_one_address_is_refused(sender: str) -> None:
    assert "AUTHARA_EMAIL_FROM" in _problems(**(SMTP | {"AUTHARA_EMAIL_FROM": sender}))


def test_credentials_come_in_pairs_and_the_password_stays_out_of_repr() -> None:
    assert "AUTHARA_EMAIL_SMTP_USERNAME" in _problems(**SMTP, AUTHARA_EMAIL_SMTP_USERNAME="u")
    assert "AUTHARA_EMAIL_SMTP_USERNAME" in _problems(**SMTP, AUTHARA_EMAIL_SMTP_PASSWORD="p")
    settings = load_settings(
        core_env(
            DB,
            **SMTP,
            AUTHARA_EMAIL_SMTP_USERNAME="mailer",
            AUTHARA_EMAIL_SMTP_PASSWORD="hunter22-secret",
        )
    )
    assert settings.mail.smtp is not None
    assert settings.mail.smtp.authenticates is True
    assert "hunter22-secret" not in repr(settings)


def test_prod_refuses_smtp_without_tls() -> None:
    prod = {"APP_ENV": "prod", "PUBLIC_URL": "https://auth.example.com"}
    assert _problems(**prod, **SMTP, AUTHARA_EMAIL_SMTP_TLS="false") == {
        "AUTHARA_EMAIL_SMTP_TLS": "must be true with smtp when APP_ENV=prod"
    }
    dev = load_settings(core_env(DB, **SMTP, AUTHARA_EMAIL_SMTP_TLS="false"))
    assert dev.mail.smtp is not None
    assert dev.mail.smtp.tls is False


def test_prod_refuses_challenges_that_noop_would_never_deliver() -> None:
    prod = {"APP_ENV": "prod", "PUBLIC_URL": "https://auth.example.com"}
    assert _problems(**prod, AUTHARA_CHALLENGE_ENABLED="true") == {
        "AUTHARA_CHALLENGE_ENABLED": (
            "needs AUTHARA_EMAIL_PROVIDER=smtp when APP_ENV=prod (noop sends no codes)"
        )
    }
    with_smtp = load_settings(core_env(DB, **prod, **SMTP, AUTHARA_CHALLENGE_ENABLED="true"))
    assert with_smtp.challenges.enabled is True
    # Off in prod, or on in dev (where noop logs each mail), noop is accepted.
    assert load_settings(core_env(DB, **prod)).mail.provider is EmailProvider.NOOP
    dev = load_settings(core_env(DB, AUTHARA_CHALLENGE_ENABLED="true"))
    assert (dev.challenges.enabled, dev.mail.provider) == (True, EmailProvider.NOOP)


def test_challenges_without_a_mail_provider_stop_prod_core_with_exit_2() -> None:
    env = core_env(
        DB, APP_ENV="prod", PUBLIC_URL="https://auth.example.com", AUTHARA_CHALLENGE_ENABLED="1"
    )
    result = subprocess.run(
        [str(Path(sys.executable).parent / "authara-core")],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "AUTHARA_CHALLENGE_ENABLED: needs AUTHARA_EMAIL_PROVIDER=smtp when APP_ENV=prod" in line


def test_a_ca_file_must_be_readable(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    assert "AUTHARA_EMAIL_SMTP_CA_FILE" in _problems(
        **SMTP, AUTHARA_EMAIL_SMTP_CA_FILE=str(missing)
    )
    present = tmp_path / "ca.pem"
    present.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = load_settings(core_env(DB, **SMTP, AUTHARA_EMAIL_SMTP_CA_FILE=str(present)))
    assert settings.mail.smtp is not None
    assert settings.mail.smtp.ca_file == str(present)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTHARA_EMAIL_PROVIDER", "sendgrid"),
        ("AUTHARA_EMAIL_SMTP_PORT", "0"),
        ("AUTHARA_EMAIL_SMTP_PORT", "65536"),
        ("AUTHARA_EMAIL_SMTP_TLS", "maybe"),
        ("AUTHARA_EMAIL_SMTP_TIMEOUT", "0"),
        ("AUTHARA_EMAIL_SMTP_TIMEOUT", "10"),
        ("AUTHARA_EMAIL_WORKER_COUNT", "0"),
        ("AUTHARA_EMAIL_WORKER_POLL_INTERVAL", "0s"),
        ("AUTHARA_EMAIL_JOB_MAX_ATTEMPTS", "0"),
        ("AUTHARA_EMAIL_CLEANUP_SENT_AFTER", "0"),
        ("AUTHARA_EMAIL_CLEANUP_FAILED_AFTER", "-1h"),
        ("AUTHARA_INVITATION_EMAIL_INCLUDE_CODE", "yes"),
    ],
)
def test_bad_values_are_named(name: str, value: str) -> None:
    assert name in _problems(**{name: value})


def test_a_bad_mail_setting_stops_core_with_exit_2_and_one_line() -> None:
    env = core_env(DB, AUTHARA_EMAIL_PROVIDER="smtp", AUTHARA_EMAIL_SMTP_TLS="sometimes")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "authara-core")],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    for name in ("AUTHARA_EMAIL_FROM", "AUTHARA_EMAIL_SMTP_HOST", "AUTHARA_EMAIL_SMTP_TLS"):
        assert name in line
