"""deploy/observability: the Grafana dashboard and the alert rules, checked offline.

Every PromQL expression may name only metrics core or the gateway register (read from the
registries the code builds, not from a list kept by hand), and promtool (Debian's
`prometheus` package; .ci/run installs it) must accept the rules file.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any, Final

import pytest
import yaml
from prometheus_client import CollectorRegistry

from authara_contract.database import DatabaseSettings
from authara_core.platform.db import Database
from authara_core.platform.hasher import PasswordHasher, PasswordSettings
from authara_core.platform.metrics import CoreMetrics
from authara_gateway.metrics import GatewayMetrics
from tests.deploy.layout import REPO_ROOT

OBSERVABILITY: Final = REPO_ROOT / "deploy" / "observability"
DASHBOARD: Final = OBSERVABILITY / "grafana-dashboard.json"
ALERTS: Final = OBSERVABILITY / "alerts.yml"
_METRIC: Final = re.compile(r"\bauthara_[a-z0-9_]+\b")
# The series a family of each type exposes, by suffix.
_SUFFIXES: Final = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
}


def _series(registry: CollectorRegistry) -> set[str]:
    names = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names


@pytest.fixture(scope="module")
def registered() -> set[str]:
    """Every series name core's and the gateway's registries can expose."""
    hasher = PasswordHasher(PasswordSettings())
    database = Database(DatabaseSettings("127.0.0.1", 5432, "x", "x"), pool_size=4)
    try:
        core = CoreMetrics.create(hasher=hasher, database=database)
        return _series(core.registry) | _series(GatewayMetrics.create().registry)
    finally:
        hasher.close()


def _dashboard_exprs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("expr"), str):
            yield node["expr"]
        for value in node.values():
            yield from _dashboard_exprs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _dashboard_exprs(value)


def _alert_exprs() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def test_dashboard_parses_and_has_panels() -> None:
    dashboard = json.loads(DASHBOARD.read_text())

    assert dashboard["uid"] and dashboard["title"]
    panel_ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(panel_ids) == len(set(panel_ids))
    assert len(list(_dashboard_exprs(dashboard))) >= 10


def test_dashboard_names_only_registered_metrics(registered: set[str]) -> None:
    exprs = list(_dashboard_exprs(json.loads(DASHBOARD.read_text())))
    used = {name for expr in exprs for name in _METRIC.findall(expr)}

    assert used - registered == set()
    # And it shows every family the code registers (the `_created` series aside).
    families = {name for name in registered if not name.endswith(("_created", "_count", "_sum"))}
    shown = {name.removesuffix("_bucket") for name in used}
    missing = {name for name in families if name.removesuffix("_bucket") not in shown}
    assert missing == set()


def test_alerts_name_only_registered_metrics(registered: set[str]) -> None:
    used = {name for expr in _alert_exprs() for name in _METRIC.findall(expr)}

    assert used
    assert used - registered == set()


def test_promtool_accepts_the_rules() -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None, (
        "promtool is missing: install Debian's `prometheus` package "
        "(apt-get install prometheus; .ci/run does) to check deploy/observability/alerts.yml"
    )
    result = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
