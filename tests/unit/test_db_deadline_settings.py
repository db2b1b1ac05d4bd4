"""The database deadlines: 5s defaults, Go durations, positive only."""

from __future__ import annotations

from datetime import timedelta

import pytest

from authara_contract.database import DatabaseSettings
from authara_contract.env import SettingsError
from authara_core.settings import load_settings
from tests.coresupport import core_env

DB = DatabaseSettings(host="127.0.0.1", port=5432, database="authara", username="postgres")


def test_defaults_are_five_seconds() -> None:
    settings = load_settings(core_env(DB))
    assert settings.db_acquire_timeout == timedelta(seconds=5)
    assert settings.db_statement_timeout == timedelta(seconds=5)


def test_durations_are_read() -> None:
    settings = load_settings(
        core_env(DB, AUTHARA_DB_ACQUIRE_TIMEOUT="1500ms", AUTHARA_DB_STATEMENT_TIMEOUT="1m")
    )
    assert settings.db_acquire_timeout == timedelta(milliseconds=1500)
    assert settings.db_statement_timeout == timedelta(minutes=1)


@pytest.mark.parametrize("name", ["AUTHARA_DB_ACQUIRE_TIMEOUT", "AUTHARA_DB_STATEMENT_TIMEOUT"])
@pytest.mark.parametrize("value", ["0", "soon", "5"])
def test_deadlines_must_be_positive_durations(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings(core_env(DB, **{name: value}))
