"""AUTHARA_WEBHOOK_*: upstream's defaults and checks (contract §12), every problem at once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from authara_contract.database import DatabaseSettings
from authara_contract.env import SettingsError
from authara_contract.webhooks import EVENT_TYPES
from authara_core.accounts import events as account_events
from authara_core.organizations import events as organization_events
from authara_core.settings import load_settings
from tests.coresupport import core_env

DB = DatabaseSettings(host="127.0.0.1", port=5432, database="authara", username="postgres")
ON = {"AUTHARA_WEBHOOK_URL": "https://app.example.com/hooks", "AUTHARA_WEBHOOK_SECRET": "s" * 32}


def _problems(**env: str) -> dict[str, str]:
    with pytest.raises(SettingsError) as caught:
        load_settings(core_env(DB, **env))
    return dict(caught.value.problems)


def test_defaults_are_upstreams_and_webhooks_are_off() -> None:
    hooks = load_settings(core_env(DB)).webhooks
    assert (hooks.url, hooks.secret, hooks.enabled) == ("", "", False)
    assert hooks.published_events == frozenset()
    assert hooks.enabled_events == frozenset(EVENT_TYPES)
    assert hooks.timeout == timedelta(seconds=5)
    assert hooks.worker_count == 2
    assert hooks.max_delivery_attempts == 3
    assert hooks.processing_stale_after == timedelta(minutes=2)
    assert hooks.stale_reaper_interval == timedelta(minutes=1)
    assert hooks.delivered_retention == timedelta(hours=24)
    assert hooks.failed_retention == timedelta(hours=720)
    assert hooks.cleanup_interval == timedelta(hours=1)
    assert hooks.maintenance_batch_size == 1000


def test_url_and_secret_turn_webhooks_on_for_every_event() -> None:
    hooks = load_settings(core_env(DB, **ON)).webhooks
    assert hooks.enabled
    assert hooks.published_events == frozenset(EVENT_TYPES)
    assert "s" * 32 not in repr(hooks)


@pytest.mark.parametrize("only", ["AUTHARA_WEBHOOK_URL", "AUTHARA_WEBHOOK_SECRET"])
def test_url_and_secret_are_set_together(only: str) -> None:
    assert "AUTHARA_WEBHOOK_URL" in _problems(**{only: ON[only]})


@pytest.mark.parametrize(
    "url", ["ftp://app/hooks", "app.example.com/hooks", "https:///hooks", "http://a:99999/"]
)
def test_the_url_needs_an_http_scheme_and_a_host(url: str) -> None:
    problems = _problems(**(ON | {"AUTHARA_WEBHOOK_URL": url}))
    assert "http(s) URL" in problems["AUTHARA_WEBHOOK_URL"]


def test_prod_needs_a_32_character_secret_dev_does_not() -> None:
    short = ON | {"AUTHARA_WEBHOOK_SECRET": "s" * 31}
    assert load_settings(core_env(DB, **short)).webhooks.enabled
    prod = short | {"APP_ENV": "prod", "PUBLIC_URL": "https://auth.example.com"}
    assert "32 characters" in _problems(**prod)["AUTHARA_WEBHOOK_SECRET"]
    prod["AUTHARA_WEBHOOK_SECRET"] = "s" * 32
    assert load_settings(core_env(DB, **prod)).webhooks.enabled


def test_enabled_events_filter_what_is_published() -> None:
    env = ON | {"AUTHARA_WEBHOOK_ENABLED_EVENTS": " user.created , organization.created,"}
    hooks = load_settings(core_env(DB, **env)).webhooks
    assert hooks.published_events == {"user.created", "organization.created"}
    off = {"AUTHARA_WEBHOOK_ENABLED_EVENTS": "user.created"}
    assert load_settings(core_env(DB, **off)).webhooks.published_events == frozenset()


def test_an_empty_list_means_every_event() -> None:
    env = ON | {"AUTHARA_WEBHOOK_ENABLED_EVENTS": " , "}
    assert load_settings(core_env(DB, **env)).webhooks.published_events == set(EVENT_TYPES)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("user.created,user.exploded", "unknown event 'user.exploded'"),
        ("user.created,user.created", "'user.created' twice"),
        ("User.Created", "unknown event"),
    ],
)
def test_enabled_events_must_be_known_and_distinct(value: str, why: str) -> None:
    problems = _problems(**(ON | {"AUTHARA_WEBHOOK_ENABLED_EVENTS": value}))
    assert why in problems["AUTHARA_WEBHOOK_ENABLED_EVENTS"]


def test_the_timeout_must_be_shorter_than_a_stale_claim() -> None:
    env = ON | {"AUTHARA_WEBHOOK_TIMEOUT": "2m"}
    assert "shorter than" in _problems(**env)["AUTHARA_WEBHOOK_TIMEOUT"]
    env["AUTHARA_WEBHOOK_PROCESSING_STALE_AFTER"] = "3m"
    assert load_settings(core_env(DB, **env)).webhooks.timeout == timedelta(minutes=2)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTHARA_WEBHOOK_TIMEOUT", "0s"),
        ("AUTHARA_WEBHOOK_WORKER_COUNT", "0"),
        ("AUTHARA_WEBHOOK_MAX_DELIVERY_ATTEMPTS", "0"),
        ("AUTHARA_WEBHOOK_PROCESSING_STALE_AFTER", "-1m"),
        ("AUTHARA_WEBHOOK_STALE_REAPER_INTERVAL", "0s"),
        ("AUTHARA_WEBHOOK_DELIVERED_RETENTION", "0s"),
        ("AUTHARA_WEBHOOK_FAILED_RETENTION", "soon"),
        ("AUTHARA_WEBHOOK_CLEANUP_INTERVAL", "0s"),
        ("AUTHARA_WEBHOOK_MAINTENANCE_BATCH_SIZE", "0"),
    ],
)
def test_counts_and_durations_must_be_positive(name: str, value: str) -> None:
    assert _problems(**(ON | {name: value})).keys() == {name}


def test_every_event_a_domain_builds_is_a_known_type() -> None:
    built = {
        value
        for module in (account_events, organization_events)
        for key, value in vars(module).items()
        if key.isupper() and isinstance(value, str)
    }
    assert built == set(EVENT_TYPES)
