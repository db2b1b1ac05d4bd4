"""The environment table in authara_contract is what each service actually reads."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from authara_contract.database import DatabaseSettings
from authara_contract.env import (
    BY_NAME,
    ENV_PATTERNS,
    ENV_VARS,
    NAME_PLACEHOLDER,
    EnvReader,
    Service,
    SettingsError,
    expand,
    lookup,
    vars_for,
)
from tests.coresupport import core_env

DB = DatabaseSettings(host="127.0.0.1", port=5432, database="authara", username="postgres")


class RecordingEnv(Mapping[str, str]):
    """A read-only environment that remembers every name a loader asked for."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return self._values[key]

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return self._values.get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.asked.add(key)
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("settings loaders must ask for names, not scan the environment")

    def __len__(self) -> int:
        return len(self._values)


def _core(env: Mapping[str, str]) -> object:
    from authara_core.settings import load_settings

    return load_settings(env)


def _gateway(env: Mapping[str, str]) -> object:
    from authara_gateway.settings import load_settings

    return load_settings(env)


def _migrations(env: Mapping[str, str]) -> object:
    from authara_migrations.settings import load_settings

    return load_settings(env)


FULL_ENV = {
    **core_env(DB),
    "AUTHARA_UPSTREAM": "127.0.0.1:8080",
    "APP_UPSTREAM": "127.0.0.1:8000",
}
LOADERS: dict[Service, Callable[[Mapping[str, str]], object]] = {
    Service.CORE: _core,
    Service.GATEWAY: _gateway,
    Service.MIGRATIONS: _migrations,
}


@pytest.mark.parametrize("service", list(Service))
def test_each_service_reads_exactly_its_rows(service: Service) -> None:
    env = RecordingEnv(FULL_ENV)
    LOADERS[service](env)
    assert env.asked == {var.name for var in vars_for(service)}


@pytest.mark.parametrize("service", [Service.CORE, Service.MIGRATIONS])
def test_required_rows_are_required(service: Service) -> None:
    with pytest.raises(SettingsError) as caught:
        LOADERS[service]({})
    missing = {name for name, _ in caught.value.problems}
    assert {var.name for var in vars_for(service) if var.required} <= missing


def test_gateway_requires_its_upstreams() -> None:
    with pytest.raises(SettingsError) as caught:
        _gateway({})
    assert {name for name, _ in caught.value.problems} >= {"AUTHARA_UPSTREAM", "APP_UPSTREAM"}


def test_table_rows_are_well_formed() -> None:
    assert len(BY_NAME) == len(ENV_VARS), "duplicate names in the table"
    for var in ENV_VARS:
        assert var.name == var.name.upper()
        assert var.services, var.name
        assert var.doc, var.name
        assert not (var.required and var.default is not None), var.name


OAUTH_ENV = {
    **FULL_ENV,
    "AUTHARA_OAUTH_PROVIDERS": "google,github,corp",
    "AUTHARA_OAUTH_GOOGLE_CLIENT_ID": "google-client",
    "AUTHARA_OAUTH_GITHUB_CLIENT_ID": "github-client",
    "AUTHARA_OAUTH_GITHUB_CLIENT_SECRET": "github-secret",
    "AUTHARA_OAUTH_CORP_CLIENT_ID": "corp-client",
    "AUTHARA_OAUTH_CORP_ISSUER": "https://id.corp.example",
}


def test_core_reads_each_pattern_row_once_per_listed_provider() -> None:
    env = RecordingEnv(OAUTH_ENV)
    _core(env)
    expanded = {expand(row, name) for row in ENV_PATTERNS for name in ("google", "github", "corp")}
    assert env.asked == {var.name for var in vars_for(Service.CORE)} | expanded
    assert "AUTHARA_OAUTH_GOOGLE_CLIENT_ID" in expanded  # upstream's name is one instance


def test_pattern_rows_are_well_formed_and_resolve() -> None:
    for row in ENV_PATTERNS:
        assert row.name.count(NAME_PLACEHOLDER) == 1, row.name
        assert row.name.startswith("AUTHARA_OAUTH_"), row.name
        assert row.services == {Service.CORE}, row.name
        assert row.doc, row.name
        assert lookup(expand(row, "corp")) is row
        assert row.name not in BY_NAME
    assert lookup("AUTHARA_OAUTH_PROVIDERS") is BY_NAME["AUTHARA_OAUTH_PROVIDERS"]
    assert lookup("AUTHARA_OAUTH_CORP_NOT_A_ROW") is None


def test_reader_refuses_names_outside_the_table() -> None:
    reader = EnvReader({}, Service.CORE)
    with pytest.raises(KeyError):
        reader.raw("AUTHARA_OAUTH_CORP_COLOUR")
    with pytest.raises(KeyError):
        EnvReader({}, Service.GATEWAY).raw("AUTHARA_OAUTH_CORP_CLIENT_ID")
