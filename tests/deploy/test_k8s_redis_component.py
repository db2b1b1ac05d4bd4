"""deploy/k8s/components/redis: Redis for a fleet, added to the production overlay, offline.

The component is rendered on top of the production overlay (as an operator's overlay would
add it), validated strictly against the API schema, and checked for what a schema cannot say:
hardening, probes, a Service that selects the pod, configuration core and the gateway accept,
and network policies that let exactly core and the gateway reach Redis.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml
from kubernetes_validate import utils as k8s_validate

from authara_contract.env import lookup
from authara_core.settings import load_settings as load_core_settings
from authara_gateway.settings import load_settings as load_gateway_settings
from tests.deploy import kustomize
from tests.deploy.layout import K8S_DIR, K8S_VERSIONS

COMPONENT = K8S_DIR / "components" / "redis"
PRODUCTION = K8S_DIR / "overlays" / "production"
KUBECTL = shutil.which("kubectl")
Resource = kustomize.Resource
REDIS_POD = {"app.kubernetes.io/name": "authara", "app.kubernetes.io/component": "redis"}
# What the two programs need besides authara-config (from authara-secrets in a cluster).
SECRETS = {
    "POSTGRESQL_PASSWORD": "pw",
    "AUTHARA_JWT_KEYS": "main:" + "QUJD" * 11,
}


@pytest.fixture(scope="module")
def overlay(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("fleet")
    (directory / "kustomization.yaml").write_text(
        textwrap.dedent(
            f"""
            apiVersion: kustomize.config.k8s.io/v1beta1
            kind: Kustomization
            resources:
              - {os.path.relpath(PRODUCTION, directory)}
            components:
              - {os.path.relpath(COMPONENT, directory)}
            """
        ).lstrip(),
        encoding="utf-8",
    )
    return directory


@pytest.fixture(scope="module")
def rendered(overlay: Path) -> list[Resource]:
    return kustomize.render(overlay)


def _one(resources: list[Resource], kind: str, name: str) -> Resource:
    found = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)}"
    return found[0]


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_everything_validates_strictly(rendered: list[Resource], version: str) -> None:
    for resource in rendered:
        k8s_validate.validate(resource, version, strict=True)


def test_the_component_adds_redis_to_the_overlay(rendered: list[Resource]) -> None:
    without = {kustomize.key(r) for r in kustomize.render(PRODUCTION)}
    added = {kustomize.key(r) for r in rendered} - without
    assert sorted((kind, name) for _, kind, _, name in added) == [
        ("Deployment", "authara-redis"),
        ("NetworkPolicy", "authara-redis"),
        ("Service", "authara-redis"),
    ]
    for resource in rendered:
        assert resource["metadata"].get("namespace", "authara") == "authara"


def test_core_and_the_gateway_accept_the_redis_configuration(rendered: list[Resource]) -> None:
    config = _one(rendered, "ConfigMap", "authara-config")["data"]
    assert config["AUTHARA_CACHE_PROVIDER"] == "redis"
    assert all(lookup(name) is not None for name in config)
    service = _one(rendered, "Service", "authara-redis")
    assert config["AUTHARA_REDIS_HOST"] == service["metadata"]["name"]
    assert int(config["AUTHARA_REDIS_PORT"]) == service["spec"]["ports"][0]["port"]
    for name in ("authara-core", "authara-gateway"):
        pod = kustomize.pod_spec(_one(rendered, "Deployment", name))
        assert pod is not None
        sources = [s["configMapRef"]["name"] for s in pod["containers"][0]["envFrom"]]
        assert "authara-config" in sources, name
    core = load_core_settings({**config, **SECRETS})
    gateway = load_gateway_settings({**config, **SECRETS})
    for settings in (core, gateway):
        text = repr(settings)
        assert "authara-redis" in text


def test_redis_runs_hardened_with_probes_resources_and_no_eviction(
    rendered: list[Resource],
) -> None:
    deployment = _one(rendered, "Deployment", "authara-redis")
    pod = kustomize.pod_spec(deployment)
    assert pod is not None
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    [container] = pod["containers"]
    assert container["image"].split(":")[-1][0].isdigit()  # a pinned release, not latest
    hardening = container["securityContext"]
    assert hardening["readOnlyRootFilesystem"] is True
    assert hardening["allowPrivilegeEscalation"] is False
    assert hardening["capabilities"] == {"drop": ["ALL"]}
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}
    assert container["livenessProbe"]
    assert container["readinessProbe"]
    args = container["args"]
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    assert args[args.index("--appendonly") + 1] == "no"


def test_the_service_selects_the_redis_pod(rendered: list[Resource]) -> None:
    service = _one(rendered, "Service", "authara-redis")
    labels = _one(rendered, "Deployment", "authara-redis")["spec"]["template"]["metadata"]
    assert service["spec"]["selector"] == REDIS_POD
    assert _selects(service["spec"]["selector"], labels["labels"])
    selected = [
        d
        for d in rendered
        if d["kind"] == "Deployment"
        and _selects(service["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])
    ]
    assert [d["metadata"]["name"] for d in selected] == ["authara-redis"]


def test_only_core_and_the_gateway_reach_redis(rendered: list[Resource]) -> None:
    policy = _one(rendered, "NetworkPolicy", "authara-redis")["spec"]
    assert policy["podSelector"]["matchLabels"] == REDIS_POD
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    assert "egress" not in policy  # Redis talks to no one
    [rule] = policy["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 6379}]
    admitted = sorted(
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for peer in rule["from"]
    )
    assert admitted == ["core", "gateway"]
    for name in ("authara-core", "authara-gateway"):
        egress = _one(rendered, "NetworkPolicy", name)["spec"]["egress"]
        to_redis = [
            rule
            for rule in egress
            if any(
                peer.get("podSelector", {}).get("matchLabels") == REDIS_POD
                for peer in rule.get("to", [])
            )
        ]
        assert [r["ports"] for r in to_redis] == [[{"protocol": "TCP", "port": 6379}]], name


def test_a_component_must_be_a_component(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [os.path.relpath(PRODUCTION, tmp_path)],
                "components": [os.path.relpath(PRODUCTION, tmp_path)],
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(kustomize.KustomizeError, match="kind: Component"):
        kustomize.render(tmp_path)


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed; the renderer stands alone")
def test_renderer_agrees_with_kubectl(overlay: Path, rendered: list[Resource]) -> None:
    assert KUBECTL is not None
    output = subprocess.run(
        [KUBECTL, "kustomize", str(overlay)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    expected = {kustomize.key(doc): doc for doc in yaml.safe_load_all(output) if doc}
    ours = {kustomize.key(doc): doc for doc in rendered}
    assert ours.keys() == expected.keys()
    for identity, resource in ours.items():
        assert resource == expected[identity], identity
