"""POSTGRESQL_SSLMODE, POSTGRESQL_SSLROOTCERT and AUTHARA_DB_PGBOUNCER as settings."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from authara_contract.database import DatabaseSettings, SslMode
from authara_contract.env import SettingsError
from authara_core.settings import load_settings
from authara_migrations.settings import load_settings as load_migration_settings
from tests.coresupport import core_env

DB = DatabaseSettings(host="127.0.0.1", port=5432, database="authara", username="postgres")


def test_defaults_are_plain_text_and_no_pgbouncer() -> None:
    settings = load_settings(core_env(DB))
    assert settings.database.sslmode is SslMode.DISABLE
    assert settings.database.sslrootcert is None
    assert settings.database.ssl_context() is None
    assert settings.database.libpq_ssl_args() == {"sslmode": "disable"}
    assert settings.db_pgbouncer is False


def test_require_encrypts_without_checking_the_server() -> None:
    settings = load_settings(core_env(DB, POSTGRESQL_SSLMODE="require"))
    context = settings.database.ssl_context()
    assert context is not None
    assert context.verify_mode is ssl.CERT_NONE
    assert not context.check_hostname
    assert settings.database.libpq_ssl_args() == {"sslmode": "require"}


@pytest.mark.parametrize(("mode", "hostname"), [("verify-ca", False), ("verify-full", True)])
def test_verify_modes_check_the_chain_and_for_full_the_name(
    mode: str, hostname: bool, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("")  # read only when connecting
    settings = load_settings(
        core_env(DB, POSTGRESQL_SSLMODE=mode.upper(), POSTGRESQL_SSLROOTCERT=str(ca))
    )
    assert settings.database.sslmode == mode
    assert settings.database.sslrootcert == ca
    assert settings.database.libpq_ssl_args() == {"sslmode": mode, "sslrootcert": str(ca)}
    unset = load_settings(core_env(DB, POSTGRESQL_SSLMODE=mode)).database
    context = unset.ssl_context()  # the system's store
    assert context is not None
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is hostname
    assert unset.libpq_ssl_args() == {"sslmode": mode, "sslrootcert": "system"}


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        pytest.param({"POSTGRESQL_SSLMODE": "prefer"}, "POSTGRESQL_SSLMODE", id="prefer"),
        pytest.param(
            {"POSTGRESQL_SSLMODE": "verify-full", "POSTGRESQL_SSLROOTCERT": "/nonexistent.pem"},
            "POSTGRESQL_SSLROOTCERT",
            id="missing-file",
        ),
        pytest.param(
            {"POSTGRESQL_SSLROOTCERT": "/etc/hostname"}, "POSTGRESQL_SSLROOTCERT", id="unused"
        ),
        pytest.param({"AUTHARA_DB_PGBOUNCER": "maybe"}, "AUTHARA_DB_PGBOUNCER", id="pgbouncer"),
    ],
)
def test_bad_values_are_refused_by_name(env: dict[str, str], problem: str) -> None:
    with pytest.raises(SettingsError, match=problem):
        load_settings(core_env(DB, **env))


def test_the_migrations_job_reads_the_same_variables(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    env = {
        "POSTGRESQL_HOST": "db",
        "POSTGRESQL_PORT": "5432",
        "POSTGRESQL_DATABASE": "authara",
        "POSTGRESQL_USERNAME": "authara",
        "POSTGRESQL_PASSWORD": "secret",
        "POSTGRESQL_SSLMODE": "verify-full",
        "POSTGRESQL_SSLROOTCERT": str(ca),
    }
    database = load_migration_settings(env).database
    assert database.libpq_ssl_args() == {"sslmode": "verify-full", "sslrootcert": str(ca)}
