"""The Python kustomize renderer: its subset on small inputs, and agreement with kubectl."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.deploy import kustomize
from tests.deploy.layout import K8S_BASE, K8S_OVERLAYS

KUBECTL = shutil.which("kubectl")
BASE_FILES = {
    "kustomization.yaml": """
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        namespace: demo
        resources: [things.yaml]
    """,
    "things.yaml": """
        apiVersion: v1
        kind: Namespace
        metadata: {name: demo}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: settings}
        data: {A: "1"}
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: example}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 1
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              initContainers: [{name: wait, image: "tools:1.0"}]
              containers: [{name: web, image: "registry.local:5000/web:1.0"}]
    """,
}
OVERLAY_FILES = {
    "kustomization.yaml": """
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        namespace: demo
        resources: [../base]
        images:
          - {name: registry.local:5000/web, newName: example.org/web, newTag: "2.0"}
          - {name: tools, digest: "sha256:0123"}
        patches:
          - path: drop.yaml
          - target: {kind: Deployment, name: web}
            patch: |-
              - {op: replace, path: /spec/replicas, value: 3}
              - {op: add, path: /spec/template/spec/containers/0/args, value: [serve]}
              - op: add
                path: /spec/template/spec/containers/-
                value: {name: side, image: "tools:1.0"}
          - target: {kind: ConfigMap, name: settings, version: v1}
            patch: |-
              - {op: test, path: /data/A, value: "1"}
              - {op: remove, path: /data/A}
              - {op: add, path: /data/B~1C, value: "2"}
    """,
    "drop.yaml": """
        $patch: delete
        apiVersion: v1
        kind: Secret
        metadata: {name: example}
    """,
}


def _write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return directory


@pytest.fixture
def overlay(tmp_path: Path) -> Path:
    _write(tmp_path / "base", BASE_FILES)
    return _write(tmp_path / "overlay", OVERLAY_FILES)


def _by_kind(resources: list[kustomize.Resource]) -> dict[str, kustomize.Resource]:
    return {resource["kind"]: resource for resource in resources}


def test_overlay_applies_namespace_images_and_patches(overlay: Path) -> None:
    rendered = _by_kind(kustomize.render(overlay))

    assert set(rendered) == {"Namespace", "ConfigMap", "Deployment"}
    assert "namespace" not in rendered["Namespace"]["metadata"]
    assert rendered["ConfigMap"]["metadata"]["namespace"] == "demo"
    assert rendered["ConfigMap"]["data"] == {"B/C": "2"}
    deployment = rendered["Deployment"]
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0] == {
        "name": "web",
        "image": "example.org/web:2.0",
        "args": ["serve"],
    }
    assert pod["containers"][1]["image"] == "tools@sha256:0123"
    assert pod["initContainers"][0]["image"] == "tools@sha256:0123"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"configMapGenerator": [{"name": "x"}]}, "unsupported fields"),
        (
            {"patches": [{"target": {"kind": "Deployment", "name": "nope"}, "patch": "[]"}]},
            "matches nothing",
        ),
        ({"patches": [{"patch": "[]"}]}, "needs an operation list and a target"),
        (
            {"patches": [{"patch": "kind: Secret\nmetadata: {name: example}\ndata: {}"}]},
            "strategic-merge patches are supported",
        ),
        (
            {
                "patches": [
                    {
                        "target": {"kind": "Deployment"},
                        "patch": "[{op: replace, path: /nope, value: 1}]",
                    }
                ]
            },
            "replaces a missing field",
        ),
        (
            {
                "patches": [
                    {"target": {"kind": "Deployment"}, "patch": "[{op: move, from: /a, path: /b}]"}
                ]
            },
            "unsupported JSON patch",
        ),
        ({"resources": ["../base", "missing.yaml"]}, "does not exist"),
    ],
)
def test_unsupported_or_broken_input_is_refused(
    overlay: Path, change: dict[str, object], message: str
) -> None:
    path = overlay / "kustomization.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.update(change)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")

    with pytest.raises(kustomize.KustomizeError, match=message):
        kustomize.render(overlay)


def test_a_resource_defined_twice_is_refused(tmp_path: Path) -> None:
    files = dict(BASE_FILES)
    files["kustomization.yaml"] = files["kustomization.yaml"].replace(
        "[things.yaml]", "[things.yaml, again.yaml]"
    )
    files["again.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n"
    base = _write(tmp_path / "base", files)

    with pytest.raises(kustomize.KustomizeError, match="defined twice"):
        kustomize.render(base)


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed; the renderer stands alone")
@pytest.mark.parametrize("directory", [K8S_BASE, *K8S_OVERLAYS], ids=lambda path: path.name)
def test_renderer_agrees_with_kubectl(directory: Path) -> None:
    assert KUBECTL is not None
    output = subprocess.run(
        [KUBECTL, "kustomize", str(directory)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    expected = {kustomize.key(doc): doc for doc in yaml.safe_load_all(output) if doc}

    rendered = {kustomize.key(doc): doc for doc in kustomize.render(directory)}

    assert rendered.keys() == expected.keys()
    for identity, resource in rendered.items():
        assert resource == expected[identity], identity


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_renderer_agrees_with_kubectl_on_the_sample(overlay: Path) -> None:
    assert KUBECTL is not None
    output = subprocess.run(
        [KUBECTL, "kustomize", str(overlay)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    expected = {kustomize.key(doc): doc for doc in yaml.safe_load_all(output) if doc}

    assert {kustomize.key(doc): doc for doc in kustomize.render(overlay)} == expected
