"""Kubernetes manifests: every kustomization renders, validates strictly, and is safe to run.

Schema validation is offline (the schemas ship inside kubernetes-validate) and strict
(unknown fields are errors). The rules after it are the ones a schema cannot express: probes,
hardening, resources, selectors that actually select, configuration that reaches each service.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_validate import utils as k8s_validate

from authara_contract import VERSION, routes
from authara_contract.env import BY_NAME, SettingsError, lookup, parse_duration, vars_for
from authara_core.settings import load_settings as load_core_settings
from tests.deploy import kustomize
from tests.deploy.layout import (
    BY_IMAGE,
    CORE,
    GATEWAY,
    K8S_BASE,
    K8S_OVERLAYS,
    K8S_VERSIONS,
    MIGRATIONS,
    ImageSpec,
)

Resource = kustomize.Resource
KUSTOMIZATIONS = [K8S_BASE, *K8S_OVERLAYS]
NAMESPACE = "authara"
# Created out of band in real clusters; the base ships an example of it.
EXTERNAL_SECRETS = frozenset({"authara-secrets"})
# Readiness and liveness each image must be probed with.
PROBES = {
    CORE.image: {"livenessProbe": routes.HEALTH, "readinessProbe": routes.READY},
    GATEWAY.image: {
        "livenessProbe": routes.GATEWAY_HEALTH,
        "readinessProbe": routes.GATEWAY_READY,
    },
}
SHUTDOWN_VARIABLE = {
    CORE.image: "AUTHARA_SHUTDOWN_TIMEOUT",
    GATEWAY.image: "GATEWAY_SHUTDOWN_TIMEOUT",
}
POSTGRES_MAX_CONNECTIONS = 100
SPARE_CONNECTIONS = 10


@pytest.fixture(scope="module", params=KUSTOMIZATIONS, ids=lambda path: path.name)
def rendered(request: pytest.FixtureRequest) -> list[Resource]:
    """Render one kustomization with the Python renderer."""
    directory: Path = request.param
    return kustomize.render(directory)


def _of_kind(resources: list[Resource], *kinds: str) -> list[Resource]:
    return [resource for resource in resources if resource["kind"] in kinds]


def _name(resource: Resource) -> str:
    return f"{resource['kind']}/{resource['metadata']['name']}"


def _one(resources: list[Resource], kind: str, name: str) -> Resource:
    found = [r for r in _of_kind(resources, kind) if r["metadata"]["name"] == name]
    assert len(found) == 1, f"expected exactly one {kind}/{name}, found {len(found)}"
    return found[0]


def _image_spec(container: dict[str, Any]) -> ImageSpec:
    reference = container["image"].split("@")[0].rsplit(":", 1)[0]
    for image, spec in BY_IMAGE.items():
        if reference == image or reference.endswith((f"/{spec.name}", f"/{image}")):
            return spec
    raise AssertionError(
        f"container {container['name']} runs an unknown image {container['image']}"
    )


def _pod_labels(workload: Resource) -> dict[str, str]:
    spec_path = workload["spec"]["template"] if workload["kind"] != "CronJob" else {}
    return dict(spec_path.get("metadata", {}).get("labels", {}))


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    wanted = selector.get("matchLabels", {})
    if set(selector) - {"matchLabels"}:
        raise AssertionError(f"only matchLabels selectors are checked here: {selector}")
    return all(labels.get(key) == value for key, value in wanted.items())


def _containers(workload: Resource) -> Iterator[tuple[str, dict[str, Any]]]:
    for container in kustomize.containers(workload):
        yield f"{_name(workload)} container {container['name']}", container


def _config_keys(resources: list[Resource], container: dict[str, Any]) -> dict[str, str]:
    keys: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            name = source["configMapRef"]["name"]
            keys |= _one(resources, "ConfigMap", name).get("data", {})
        if "secretRef" in source:
            keys |= dict.fromkeys(_secret_keys(resources, source["secretRef"]["name"]), "<secret>")
    return keys


def _secret_keys(resources: list[Resource], name: str) -> set[str]:
    found = [r for r in _of_kind(resources, "Secret") if r["metadata"]["name"] == name]
    if not found:
        assert name in EXTERNAL_SECRETS, (
            f"Secret {name} is referenced but neither rendered nor external"
        )
        return set()
    secret = found[0]
    return set(secret.get("data", {})) | set(secret.get("stringData", {}))


def _environment(resources: list[Resource], container: dict[str, Any]) -> dict[str, str]:
    env = _config_keys(resources, container)
    for item in container.get("env", []):
        env[item["name"]] = item.get("value", "<from a reference>")
    return env


# -- schema ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_object_validates_strictly_against_the_api_schema(
    rendered: list[Resource], version: str
) -> None:
    problems = []
    for resource in rendered:
        try:
            k8s_validate.validate(resource, version, strict=True)
        except k8s_validate.ValidationError as exc:
            path = ".".join(str(part) for part in exc.path)
            problems.append(f"{_name(resource)}: {path}: {exc.message}")
        except k8s_validate.SchemaNotFoundError as exc:
            problems.append(f"{_name(resource)}: {exc.message}")

    assert problems == [], f"Kubernetes {version} rejects:\n" + "\n".join(problems)


def test_everything_lives_in_the_authara_namespace(rendered: list[Resource]) -> None:
    _one(rendered, "Namespace", NAMESPACE)
    outside = [
        _name(resource)
        for resource in rendered
        if resource["kind"] not in kustomize.CLUSTER_SCOPED
        and resource["metadata"].get("namespace") != NAMESPACE
    ]

    assert outside == [], f"not in namespace {NAMESPACE}: {outside}"


def test_the_expected_objects_are_there(rendered: list[Resource]) -> None:
    for kind, name in [
        ("ConfigMap", "authara-config"),
        ("Job", "authara-migrations"),
        ("Deployment", "authara-core"),
        ("Deployment", "authara-gateway"),
        ("Service", "authara-core"),
        ("Service", "authara-gateway"),
        ("PodDisruptionBudget", "authara-core"),
        ("PodDisruptionBudget", "authara-gateway"),
        ("HorizontalPodAutoscaler", "authara-core"),
        ("HorizontalPodAutoscaler", "authara-gateway"),
        ("NetworkPolicy", "authara-default-deny"),
    ]:
        _one(rendered, kind, name)


# -- pods ------------------------------------------------------------------------------------


def test_pods_run_as_non_root_with_a_read_only_root_and_no_capabilities(
    rendered: list[Resource],
) -> None:
    problems = []
    for workload in _of_kind(rendered, "Deployment", "Job"):
        pod = kustomize.pod_spec(workload) or {}
        context = pod.get("securityContext", {})
        if context.get("runAsNonRoot") is not True or context.get("runAsUser", 0) == 0:
            problems.append(f"{_name(workload)}: runAsNonRoot with a non-zero runAsUser")
        if context.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{_name(workload)}: seccompProfile RuntimeDefault")
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{_name(workload)}: automountServiceAccountToken: false")
        for where, container in _containers(workload):
            hardening = container.get("securityContext", {})
            if hardening.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: readOnlyRootFilesystem: true")
            if hardening.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation: false")
            capabilities = hardening.get("capabilities", {})
            if capabilities.get("drop") != ["ALL"] or capabilities.get("add"):
                problems.append(f"{where}: capabilities must drop ALL and add none")
            if hardening.get("runAsUser") == 0 or hardening.get("privileged"):
                problems.append(f"{where}: must not run as root or privileged")

    assert problems == [], "insecure pods:\n" + "\n".join(problems)


def test_every_container_has_resource_requests_and_limits(rendered: list[Resource]) -> None:
    problems = [
        f"{where}: resources.{kind}.{resource}"
        for workload in _of_kind(rendered, "Deployment", "Job")
        for where, container in _containers(workload)
        for kind in ("requests", "limits")
        for resource in ("cpu", "memory")
        if resource not in container.get("resources", {}).get(kind, {})
    ]

    assert problems == [], "missing resources:\n" + "\n".join(problems)


def test_servers_have_liveness_and_readiness_probes_on_their_health_routes(
    rendered: list[Resource],
) -> None:
    problems = []
    for workload in _of_kind(rendered, "Deployment"):
        for where, container in _containers(workload):
            if container in (kustomize.pod_spec(workload) or {}).get("initContainers", []):
                continue
            expected = PROBES.get(_image_spec(container).image, {})
            if not expected:
                problems.append(f"{where}: no probe rules for {container['image']}")
            ports = {port.get("name"): port["containerPort"] for port in container.get("ports", [])}
            for probe, path in expected.items():
                check = container.get(probe, {}).get("httpGet")
                if check is None:
                    problems.append(f"{where}: missing {probe} (httpGet {path})")
                    continue
                if check.get("path") != path:
                    problems.append(f"{where}: {probe} must GET {path}, not {check.get('path')}")
                if check.get("port") not in {*ports, *ports.values()}:
                    problems.append(
                        f"{where}: {probe} port {check.get('port')} is not a container port"
                    )

    assert problems == [], "probe problems:\n" + "\n".join(problems)


def test_core_waits_for_the_schema_before_serving(rendered: list[Resource]) -> None:
    core = _one(rendered, "Deployment", "authara-core")
    pod = kustomize.pod_spec(core) or {}
    waits = [
        container
        for container in pod.get("initContainers", [])
        if _image_spec(container) is MIGRATIONS
        and "authara-migrate status"
        in " ".join(container.get("command", []) + container.get("args", []))
    ]

    assert core["spec"]["replicas"] >= 2
    assert waits, "core needs an init container that waits for `authara-migrate status`"
    assert pod["containers"][0]["readinessProbe"]["httpGet"]["path"] == routes.READY


def test_shutdown_fits_in_the_termination_grace_period(rendered: list[Resource]) -> None:
    problems = []
    for workload in _of_kind(rendered, "Deployment"):
        pod = kustomize.pod_spec(workload) or {}
        grace = pod.get("terminationGracePeriodSeconds", 30)
        for where, container in _containers(workload):
            variable = SHUTDOWN_VARIABLE.get(_image_spec(container).image)
            if variable is None or container in pod.get("initContainers", []):
                continue
            pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {})
            sleep = (
                float(pre_stop["command"][1]) if pre_stop.get("command", [""])[0] == "sleep" else 0
            )
            value = _environment(rendered, container).get(variable) or BY_NAME[variable].default
            deadline = parse_duration(value or "0")
            needed = sleep + deadline.total_seconds()
            if grace <= needed:
                problems.append(
                    f"{where}: grace {grace}s <= preStop {sleep}s + {variable} {deadline}"
                )

    assert problems == [], "\n".join(problems)


def test_images_are_ours_and_pinned(rendered: list[Resource]) -> None:
    problems = []
    for workload in _of_kind(rendered, "Deployment", "Job"):
        for where, container in _containers(workload):
            spec = _image_spec(container)
            reference = container["image"]
            if spec.service is None:
                problems.append(f"{where}: {reference} is not a product image")
            if "@sha256:" not in reference and not reference.endswith(f":{VERSION}"):
                problems.append(f"{where}: {reference} must be pinned to {VERSION} or a digest")

    assert problems == [], "\n".join(problems)


# -- configuration ---------------------------------------------------------------------------


def test_each_container_gets_only_known_variables_and_every_required_one(
    rendered: list[Resource],
) -> None:
    problems = []
    for config_map in _of_kind(rendered, "ConfigMap"):
        unknown = {name for name in config_map.get("data", {}) if lookup(name) is None}
        if unknown:
            problems.append(f"{_name(config_map)}: not in the env table: {sorted(unknown)}")
    for workload in _of_kind(rendered, "Deployment", "Job"):
        for where, container in _containers(workload):
            service = _image_spec(container).service
            assert service is not None
            env = _environment(rendered, container)
            for item in container.get("env", []):
                row = lookup(item["name"])
                if row is None or service not in row.services:
                    problems.append(f"{where}: {item['name']} is not a {service} variable")
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                known_keys = (
                    _secret_keys(rendered, ref["name"]) | _external(ref["name"]) if ref else set()
                )
                if ref and not ref.get("optional") and ref["key"] not in known_keys:
                    problems.append(f"{where}: Secret {ref['name']} has no key {ref['key']}")
            missing = [
                var.name
                for var in vars_for(service)
                if var.required_for(service) and var.name not in env
            ]
            if missing:
                problems.append(f"{where}: required {service} variables not set: {missing}")

    assert problems == [], "\n".join(problems)


def _external(name: str) -> set[str]:
    return {"POSTGRESQL_PASSWORD", "AUTHARA_JWT_KEYS"} if name in EXTERNAL_SECRETS else set()


def test_the_example_secret_cannot_start_core() -> None:
    secret = _one(kustomize.render(K8S_BASE), "Secret", "authara-secrets")
    config = _one(kustomize.render(K8S_BASE), "ConfigMap", "authara-config")

    with pytest.raises(SettingsError) as caught:
        load_core_settings({**config["data"], **secret["stringData"]})

    assert "AUTHARA_JWT_KEYS" in caught.value.message


# -- services, budgets, autoscaling, network -------------------------------------------------


def test_services_select_pods_and_target_their_ports(rendered: list[Resource]) -> None:
    workloads = _of_kind(rendered, "Deployment")
    problems = []
    for service in _of_kind(rendered, "Service"):
        selected = [
            w
            for w in workloads
            if _selects({"matchLabels": service["spec"]["selector"]}, _pod_labels(w))
        ]
        if len(selected) != 1:
            problems.append(f"{_name(service)} selects {len(selected)} Deployments")
            continue
        names = {
            port.get("name")
            for _, container in _containers(selected[0])
            for port in container.get("ports", [])
        } | {
            port["containerPort"]
            for _, container in _containers(selected[0])
            for port in container.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            if port.get("targetPort", port["port"]) not in names:
                problems.append(
                    f"{_name(service)}: targetPort {port.get('targetPort')} is no container port"
                )

    assert problems == [], "\n".join(problems)


def test_budgets_and_autoscalers_point_at_deployments(rendered: list[Resource]) -> None:
    deployments = {d["metadata"]["name"]: d for d in _of_kind(rendered, "Deployment")}
    problems = []
    for budget in _of_kind(rendered, "PodDisruptionBudget"):
        selected = [
            d for d in deployments.values() if _selects(budget["spec"]["selector"], _pod_labels(d))
        ]
        if len(selected) != 1:
            problems.append(f"{_name(budget)} selects {len(selected)} Deployments")
        elif budget["spec"].get("minAvailable", 0) >= selected[0]["spec"]["replicas"]:
            problems.append(f"{_name(budget)}: minAvailable blocks every voluntary eviction")
    for scaler in _of_kind(rendered, "HorizontalPodAutoscaler"):
        target = deployments.get(scaler["spec"]["scaleTargetRef"]["name"])
        if target is None:
            problems.append(
                f"{_name(scaler)}: no Deployment {scaler['spec']['scaleTargetRef']['name']}"
            )
        elif scaler["spec"]["minReplicas"] != target["spec"]["replicas"]:
            problems.append(f"{_name(scaler)}: minReplicas differs from the Deployment's replicas")

    assert problems == [], "\n".join(problems)


def test_core_pools_fit_postgres_at_the_autoscalers_maximum(rendered: list[Resource]) -> None:
    config = _one(rendered, "ConfigMap", "authara-config")["data"]
    pool = int(
        config.get("AUTHARA_DB_MAX_OPEN_CONNS") or BY_NAME["AUTHARA_DB_MAX_OPEN_CONNS"].default or 0
    )
    most = _one(rendered, "HorizontalPodAutoscaler", "authara-core")["spec"]["maxReplicas"]

    assert most * pool <= POSTGRES_MAX_CONNECTIONS - SPARE_CONNECTIONS, (
        f"{most} core replicas x {pool} connections exceed PostgreSQL's default max_connections "
        f"({POSTGRES_MAX_CONNECTIONS}) less {SPARE_CONNECTIONS} for migrations and operators"
    )


def test_network_policies_deny_by_default_and_allow_only_the_paths_we_need(
    rendered: list[Resource],
) -> None:
    policies = {p["metadata"]["name"]: p for p in _of_kind(rendered, "NetworkPolicy")}
    deny = policies["authara-default-deny"]["spec"]
    assert deny["podSelector"] == {}
    assert sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in deny
    assert "egress" not in deny
    workloads = _of_kind(rendered, "Deployment", "Job")
    for name, policy in policies.items():
        if name != "authara-default-deny":
            assert any(
                _selects(policy["spec"]["podSelector"], _pod_labels(w)) for w in workloads
            ), name

    core = policies["authara-core"]["spec"]
    gateway = _one(rendered, "Deployment", "authara-gateway")
    assert len(core["ingress"]) == 1, "core admits traffic from the gateway only"
    for peer in core["ingress"][0].get("from", [{}]):
        admitted = [w for w in workloads if _selects(peer.get("podSelector", {}), _pod_labels(w))]
        assert set(peer) == {"podSelector"}, f"core admits {peer}"
        assert admitted == [gateway], f"core admits {[_name(w) for w in admitted]}"
    assert core["ingress"][0]["ports"] == [{"protocol": "TCP", "port": CORE.port}]
    egress_ports = sorted(port["port"] for rule in core["egress"] for port in rule["ports"])
    assert egress_ports == [53, 53, 587, 5432]  # DNS, SMTP, PostgreSQL


@pytest.mark.parametrize("overlay", K8S_OVERLAYS, ids=lambda path: path.name)
def test_overlays_are_production_ready_behind_a_tls_ingress(overlay: Path) -> None:
    rendered = kustomize.render(overlay)
    ingresses = _of_kind(rendered, "Ingress")
    assert ingresses, f"{overlay.name} needs an Ingress in front of the gateway"
    config = _one(rendered, "ConfigMap", "authara-config")["data"]
    gateway = _one(rendered, "Service", "authara-gateway")
    for ingress in ingresses:
        assert ingress["spec"].get("tls"), f"{_name(ingress)} must terminate TLS"
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["name"] == gateway["metadata"]["name"]
                assert backend["port"].get("name") in {
                    p.get("name") for p in gateway["spec"]["ports"]
                }
    assert config["APP_ENV"] == "prod"
    assert config["PUBLIC_URL"].startswith("https://")
    assert not _of_kind(rendered, "Secret"), "production must not ship the example Secret"
