"""Access lines, JSON logs, metrics helpers and the observability settings."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterable

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from authara_contract.database import DatabaseSettings
from authara_contract.env import SettingsError
from authara_core.platform.db import Database
from authara_core.platform.hasher import PasswordHasher, PasswordSettings
from authara_core.platform.metrics import CoreMetrics, outcome_of
from authara_core.platform.ratelimit import RateLimitStats
from authara_core.settings import load_settings as load_core
from authara_gateway.metrics import GatewayMetrics
from authara_gateway.settings import load_settings as load_gateway
from authara_runtime.access_log import AccessLog, access_log_for
from authara_runtime.logs import JsonFormatter
from authara_runtime.metrics import RevocationCollector, RevocationSlot, metrics_address
from authara_runtime.observe import HttpMetrics, RequestObserver
from tests.coresupport import core_env

DB = DatabaseSettings(host="127.0.0.1", port=5432, database="authara", username="postgres")
GATEWAY = {"AUTHARA_UPSTREAM": "core:8080", "APP_UPSTREAM": "app:9000"}
NOW = 1_796_450_000.25
USER = "5b0f8a52-3f7c-4b8e-9a51-0c1d2e3f4a5b"


def _line(log: AccessLog, **overrides: object) -> str:
    fields: dict[str, object] = {
        "request_id": "req-1",
        "method": "POST",
        "route": "/auth/api/v1/login",
        "status": 200,
        "duration_s": 0.0123,
        "user_id": USER,
        "now": NOW,
        **overrides,
    }
    return log.line(**fields)  # type: ignore[arg-type]


def test_json_line_holds_the_request_and_nothing_else() -> None:
    line = _line(AccessLog(2, json=True, logger="core.access"))

    assert line.endswith("\n") and line.count("\n") == 1
    assert json.loads(line) == {
        "time": "2026-12-05T05:53:20.250Z",
        "level": "info",
        "logger": "core.access",
        "request_id": "req-1",
        "method": "POST",
        "route": "/auth/api/v1/login",
        "status": 200,
        "duration_ms": 12.3,
        "user_id": USER,
    }


def test_json_line_without_a_user_says_null() -> None:
    line = _line(AccessLog(2, json=True, logger="gateway.access"), user_id=None)

    assert json.loads(line)["user_id"] is None


def test_text_line() -> None:
    line = _line(AccessLog(2, json=False, logger="gateway.access"), user_id=None)

    assert line == (
        "2026-12-05T05:53:20.250Z INFO gateway.access: POST /auth/api/v1/login 200 12.300ms"
        " request_id=req-1 user_id=-\n"
    )


@pytest.mark.parametrize(
    ("field", "hostile"),
    [
        ("route", '/x"},"user_id":"admin'),
        ("route", "/line\nbreak"),
        ("route", "/back\\slash"),
        ("method", 'GE"T'),
    ],
    ids=["route-quote", "route-newline", "route-backslash", "method-quote"],
)
def test_a_field_outside_the_alphabet_is_replaced_not_passed_on(field: str, hostile: str) -> None:
    line = _line(AccessLog(2, json=True, logger="core.access"), **{field: hostile})

    assert json.loads(line)[field] == "(unprintable)"
    assert line.count("\n") == 1


def test_written_lines_reach_the_descriptor_in_order() -> None:
    read_end, write_end = os.pipe()
    try:
        log = AccessLog(write_end, json=True, logger="core.access")
        for index in range(3):  # no running loop: each write goes out at once
            log.write(
                request_id=f"req-{index}",
                method="GET",
                route="/auth/api/v1/user",
                status=200,
                duration_s=0.001,
                user_id=None,
            )
        log.flush()
        data = os.read(read_end, 65536).decode()
    finally:
        os.close(read_end)
        os.close(write_end)
    assert [json.loads(line)["request_id"] for line in data.splitlines()] == [
        "req-0",
        "req-1",
        "req-2",
    ]


@pytest.mark.parametrize(
    ("level", "on"),
    [("debug", True), ("info", True), ("warn", False), ("error", False)],
)
def test_access_lines_are_on_at_info_and_debug(level: str, on: bool) -> None:
    assert (access_log_for(level, "json", "core.access") is not None) is on


def test_json_formatter_gives_one_object_per_record_with_the_traceback() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.observability.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("queue %s is %d long", "mail", 3)
        try:
            int("boom")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (first["level"], first["logger"], first["message"]) == (
        "warning",
        "tests.observability.json",
        "queue mail is 3 long",
    )
    assert "ValueError: invalid literal" in second["exception"]


def test_observer_counts_requests_by_route_and_status() -> None:
    registry = CollectorRegistry()
    observe = RequestObserver(access_log=None, metrics=HttpMetrics.register(registry, "t"))
    for status in (200, 200, 404):
        observe(
            request_id="r",
            method="GET",
            route="/a/{id}",
            status=status,
            duration_s=0.002,
            user_id=None,
        )
    text = generate_latest(registry).decode()

    assert 't_requests_total{method="GET",route="/a/{id}",status="200"} 2.0' in text
    assert 't_requests_total{method="GET",route="/a/{id}",status="404"} 1.0' in text
    assert 't_request_duration_seconds_count{route="/a/{id}",status_class="4xx"} 1.0' in text


def _counts() -> Iterable[tuple[str, int]]:
    return [("hit", 3), ("fail_open", 1)]


def test_revocation_collector_reads_the_counts_at_scrape_time() -> None:
    registry = CollectorRegistry()
    slot = RevocationSlot()
    registry.register(RevocationCollector("x_revocation_checks", slot))
    assert "x_revocation_checks_total{" not in generate_latest(registry).decode()

    slot.read = _counts
    text = generate_latest(registry).decode()

    assert 'x_revocation_checks_total{result="hit"} 3.0' in text
    assert 'x_revocation_checks_total{result="fail_open"} 1.0' in text


def test_gateway_metrics_take_revocation_counts_after_creation() -> None:
    metrics = GatewayMetrics.create()
    metrics.revocation.read = _counts

    text = generate_latest(metrics.registry).decode()

    assert 'authara_gateway_revocation_checks_total{result="hit"} 3.0' in text


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, "success"), (303, "success"), (401, "refused"), (429, "rate_limited"), (500, "error")],
)
def test_outcome_of(status: int, outcome: str) -> None:
    assert outcome_of(status) == outcome


def test_worker_i_serves_metrics_on_port_plus_i() -> None:
    assert metrics_address(("127.0.0.1", 9100), None) == ("127.0.0.1", 9100)
    assert metrics_address(("127.0.0.1", 9100), 0) == ("127.0.0.1", 9100)
    assert metrics_address(("0.0.0.0", 9100), 3) == ("0.0.0.0", 9103)


def test_settings_defaults_are_text_logs_and_no_metrics() -> None:
    core = load_core(core_env(DB))
    gateway = load_gateway(GATEWAY)

    assert (core.log_format, core.metrics_bind) == ("text", None)
    assert (gateway.log_format, gateway.metrics_bind) == ("text", None)


def test_settings_read_log_format_and_metrics_bind() -> None:
    core = load_core(core_env(DB, LOG_FORMAT="JSON", AUTHARA_METRICS_BIND=":9100"))
    gateway = load_gateway({**GATEWAY, "LOG_FORMAT": "json", "GATEWAY_METRICS_BIND": "[::1]:9101"})

    assert (core.log_format, core.metrics_bind) == ("json", ("0.0.0.0", 9100))
    assert (gateway.log_format, gateway.metrics_bind) == ("json", ("::1", 9101))


def test_empty_metrics_bind_is_off() -> None:
    assert load_gateway({**GATEWAY, "GATEWAY_METRICS_BIND": " "}).metrics_bind is None


def test_bad_values_are_named() -> None:
    with pytest.raises(SettingsError) as core:
        load_core(core_env(DB, LOG_FORMAT="xml", AUTHARA_METRICS_BIND="9100"))
    with pytest.raises(SettingsError) as gateway:
        load_gateway({**GATEWAY, "GATEWAY_METRICS_BIND": "host:0"})

    assert {name for name, _ in core.value.problems} == {"LOG_FORMAT", "AUTHARA_METRICS_BIND"}
    assert dict(gateway.value.problems)["GATEWAY_METRICS_BIND"].startswith("must look like")


def test_histogram_buckets_are_cumulative_and_inclusive() -> None:
    registry = CollectorRegistry()
    observe = RequestObserver(access_log=None, metrics=HttpMetrics.register(registry, "h"))
    for duration in (0.001, 0.002, 20.0):
        observe(
            request_id="r",
            method="GET",
            route="/x",
            status=200,
            duration_s=duration,
            user_id=None,
        )
    text = generate_latest(registry).decode()

    labels = 'route="/x",status_class="2xx"'
    assert f'h_request_duration_seconds_bucket{{le="0.001",{labels}}} 1.0' in text
    assert f'h_request_duration_seconds_bucket{{le="0.0025",{labels}}} 2.0' in text
    assert f'h_request_duration_seconds_bucket{{le="10.0",{labels}}} 2.0' in text
    assert f'h_request_duration_seconds_bucket{{le="+Inf",{labels}}} 3.0' in text
    assert f"h_request_duration_seconds_count{{{labels}}} 3.0" in text
    assert f"h_request_duration_seconds_sum{{{labels}}} 20.003" in text


def test_made_up_methods_are_counted_as_other() -> None:
    registry = CollectorRegistry()
    observe = RequestObserver(access_log=None, metrics=HttpMetrics.register(registry, "m"))
    for method in ("BREW", "WHEN", "GET"):
        observe(request_id="r", method=method, route="/x", status=405, duration_s=0.0, user_id=None)
    text = generate_latest(registry).decode()

    assert 'm_requests_total{method="OTHER",route="/x",status="405"} 2.0' in text
    assert 'm_requests_total{method="GET",route="/x",status="405"} 1.0' in text


def test_rate_limit_counts_and_the_degraded_flag_are_read_at_scrape_time() -> None:
    hasher = PasswordHasher(PasswordSettings(workers=1))
    database = Database(DatabaseSettings("127.0.0.1", 5432, "x", "x"), pool_size=1)
    stats = RateLimitStats()
    try:
        metrics = CoreMetrics.create(hasher=hasher, database=database, rate_limits=stats)
        stats.redis_hits, stats.fallback_hits, stats.outages, stats.degraded = 7, 2, 1, True
        text = generate_latest(metrics.registry).decode()
    finally:
        hasher.close()
    assert 'authara_rate_limit_hits_total{store="redis"} 7.0' in text
    assert 'authara_rate_limit_hits_total{store="memory"} 2.0' in text
    assert "authara_rate_limit_outages_total 1.0" in text
    assert "authara_rate_limit_degraded 1.0" in text
