"""Render a kustomization the way `kubectl kustomize` does, for the subset the manifests use.

Supported: `resources` (YAML files, possibly multi-document, and directories holding a
kustomization), `components` (directories holding a `kind: Component` kustomization with
`resources` and `patches`, applied after the resources, before the kustomization's own patches),
`namespace`, `images` (newName/newTag/digest), and `patches` given inline or
by `path`: JSON 6902 operation lists with a `target` (kind, name, group, version, namespace),
and the strategic-merge `$patch: delete` that removes a resource. Anything else in a
kustomization is refused, so the renderer never silently renders something else than kubectl
would. tests/deploy/test_kustomize.py compares it with kubectl when kubectl is installed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import yaml

KUSTOMIZATION_FILES: Final = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_FIELDS: Final = frozenset(
    {"apiVersion", "kind", "resources", "components", "namespace", "images", "patches"}
)
CLUSTER_SCOPED: Final = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
        "IngressClass",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    }
)
_POD_TEMPLATE_PATHS: Final = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}

Resource = dict[str, Any]


class KustomizeError(ValueError):
    """The kustomization is broken or uses something this renderer does not support."""


def render(directory: Path) -> list[Resource]:
    """Render the kustomization in `directory` into a list of resources."""
    kustomization = _load_kustomization(directory)
    resources: list[Resource] = []
    for entry in kustomization.get("resources", []):
        resources.extend(_load_resource(directory, entry))
    for entry in kustomization.get("components", []):
        resources = _apply_component(directory, entry, resources)
    for patch in kustomization.get("patches", []):
        resources = _apply_patch(directory, resources, patch)
    namespace = kustomization.get("namespace")
    if namespace:
        for resource in resources:
            if resource.get("kind") not in CLUSTER_SCOPED:
                resource.setdefault("metadata", {})["namespace"] = namespace
    for image in kustomization.get("images", []):
        _set_image(resources, image)
    _check_unique(directory, resources)
    return resources


def pod_spec(resource: Resource) -> dict[str, Any] | None:
    """Return the pod spec inside a workload resource, or None for other kinds."""
    path = _POD_TEMPLATE_PATHS.get(resource.get("kind", ""))
    if path is None:
        return None
    node: Any = resource
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def containers(resource: Resource) -> Iterator[dict[str, Any]]:
    """Yield the init containers and containers of a workload resource."""
    spec = pod_spec(resource)
    if spec is not None:
        yield from spec.get("initContainers", [])
        yield from spec.get("containers", [])


def key(resource: Resource) -> tuple[str, str, str, str]:
    """Identify a resource as (apiVersion, kind, namespace, name)."""
    metadata = resource.get("metadata", {})
    return (
        resource.get("apiVersion", ""),
        resource.get("kind", ""),
        metadata.get("namespace", ""),
        metadata.get("name", ""),
    )


def _load_kustomization(directory: Path) -> dict[str, Any]:
    for name in KUSTOMIZATION_FILES:
        path = directory / name
        if path.exists():
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            unsupported = set(data) - SUPPORTED_FIELDS
            if unsupported:
                raise KustomizeError(f"{path}: unsupported fields {sorted(unsupported)}")
            return dict(data)
    raise KustomizeError(f"{directory}: no kustomization file")


def _apply_component(directory: Path, entry: str, resources: list[Resource]) -> list[Resource]:
    path = (directory / entry).resolve()
    component = _load_kustomization(path) if path.is_dir() else {}
    if component.get("kind") != "Component":
        raise KustomizeError(f"{directory}: component {entry!r} is no kind: Component directory")
    unsupported = set(component) - {"apiVersion", "kind", "resources", "patches"}
    if unsupported:
        raise KustomizeError(f"{path}: unsupported fields in a component {sorted(unsupported)}")
    resources = [*resources]
    for resource_entry in component.get("resources", []):
        resources.extend(_load_resource(path, resource_entry))
    for patch in component.get("patches", []):
        resources = _apply_patch(path, resources, patch)
    return resources


def _load_resource(directory: Path, entry: str) -> list[Resource]:
    path = (directory / entry).resolve()
    if path.is_dir():
        return render(path)
    if not path.is_file():
        raise KustomizeError(f"{directory}: resource {entry!r} does not exist")
    documents = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    for document in documents:
        if not isinstance(document, dict) or not {"apiVersion", "kind"} <= document.keys():
            raise KustomizeError(f"{path}: every document needs apiVersion and kind")
    return documents


def _apply_patch(
    directory: Path, resources: list[Resource], patch: dict[str, Any]
) -> list[Resource]:
    if set(patch) - {"path", "patch", "target"}:
        raise KustomizeError(f"{directory}: unsupported patch options {sorted(patch)}")
    text = patch.get("patch")
    if text is None:
        text = (directory / patch["path"]).read_text(encoding="utf-8")
    body = yaml.safe_load(text)
    if isinstance(body, dict):
        return _strategic_delete(directory, resources, body)
    if not isinstance(body, list) or "target" not in patch:
        raise KustomizeError(f"{directory}: a JSON 6902 patch needs an operation list and a target")
    matched = [resource for resource in resources if _matches(resource, patch["target"])]
    if not matched:
        raise KustomizeError(f"{directory}: patch target {patch['target']} matches nothing")
    for resource in matched:
        for operation in body:
            _json_patch(resource, operation)
    return resources


def _strategic_delete(
    directory: Path, resources: list[Resource], body: dict[str, Any]
) -> list[Resource]:
    if body.get("$patch") != "delete":
        raise KustomizeError(
            f"{directory}: only `$patch: delete` strategic-merge patches are supported"
        )
    target = {"kind": body.get("kind"), "name": body.get("metadata", {}).get("name")}
    kept = [resource for resource in resources if not _matches(resource, target)]
    if len(kept) == len(resources):
        raise KustomizeError(f"{directory}: `$patch: delete` of {target} matches nothing")
    return kept


def _matches(resource: Resource, target: dict[str, Any]) -> bool:
    group, _, version = resource.get("apiVersion", "").rpartition("/")
    metadata = resource.get("metadata", {})
    wanted = {
        "kind": resource.get("kind"),
        "name": metadata.get("name"),
        "namespace": metadata.get("namespace"),
        "group": group,
        "version": version,
    }
    unsupported = set(target) - set(wanted)
    if unsupported:
        raise KustomizeError(f"unsupported target selectors {sorted(unsupported)}")
    return all(wanted[field] == value for field, value in target.items())


def _json_patch(resource: Resource, operation: dict[str, Any]) -> None:
    op, pointer = operation.get("op"), operation.get("path", "")
    tokens = [part.replace("~1", "/").replace("~0", "~") for part in pointer.split("/")[1:]]
    if not tokens:
        raise KustomizeError(f"JSON patch path must not be the root: {operation}")
    parent: Any = resource
    for token in tokens[:-1]:
        parent = parent[int(token)] if isinstance(parent, list) else parent[token]
    last = tokens[-1]
    if op == "test":
        current = parent[int(last)] if isinstance(parent, list) else parent[last]
        if current != operation.get("value"):
            raise KustomizeError(f"JSON patch test failed: {operation}")
    elif op == "remove":
        del parent[int(last) if isinstance(parent, list) else last]
    elif op in ("add", "replace"):
        value = copy.deepcopy(operation.get("value"))
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if op == "add":
                parent.insert(index, value)
            else:
                parent[index] = value
        else:
            if op == "replace" and last not in parent:
                raise KustomizeError(f"JSON patch replaces a missing field: {operation}")
            parent[last] = value
    else:
        raise KustomizeError(f"unsupported JSON patch operation: {operation}")


def _set_image(resources: list[Resource], image: dict[str, Any]) -> None:
    for resource in resources:
        for container in containers(resource):
            name, tag = _split_image(container.get("image", ""))
            if name != image["name"]:
                continue
            new_name = image.get("newName", name)
            if "digest" in image:
                container["image"] = f"{new_name}@{image['digest']}"
            else:
                new_tag = image.get("newTag", tag)
                container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name


def _split_image(reference: str) -> tuple[str, str]:
    name = reference.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :]
    return name, ""


def _check_unique(directory: Path, resources: list[Resource]) -> None:
    seen: set[tuple[str, str, str, str]] = set()
    for resource in resources:
        identity = key(resource)
        if identity in seen:
            raise KustomizeError(f"{directory}: {identity} is defined twice")
        seen.add(identity)
