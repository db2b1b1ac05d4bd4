"""The demo app is an example: no product image copies or installs it, no product imports it."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path
from typing import Final

import pytest

from .dockerfile import parse_dockerfile
from .layout import CORE, DEMO, PRODUCT_IMAGES, REPO_ROOT, ImageSpec

# Everything that belongs to the demo or to the dev stack that runs it.
NOT_IN_PRODUCTS: Final = re.compile(r"examples|devstack|demo", re.IGNORECASE)
DEV_ONLY_DISTRIBUTIONS: Final = frozenset({"authara-demo", "authara-devstack"})
DEV_ONLY_MODULES: Final = frozenset({"authara_demo", "authara_devstack"})
LOCAL_PACKAGES: Final = {
    "authara-contract": REPO_ROOT / "shared",
    "authara-runtime": REPO_ROOT / "shared" / "runtime",
    **{f"authara-{spec.name}": REPO_ROOT / spec.package_dir for spec in PRODUCT_IMAGES},
}


def demo_problems(dockerfile: Path) -> list[str]:
    """Return each COPY source and RUN step of a Dockerfile that brings in the demo."""
    problems = []
    for stage in parse_dockerfile(dockerfile).stages:
        for instruction in stage.all("COPY"):
            flags, arguments = instruction.split_flags()
            sources = arguments.split()[:-1]
            if "from" not in flags and any(NOT_IN_PRODUCTS.search(s) for s in sources):
                problems.append(f"copies the demo: {instruction}")
        for instruction in stage.all("RUN"):
            if NOT_IN_PRODUCTS.search(instruction.value):
                problems.append(f"installs the demo: {instruction}")
    return problems


def _dependencies(package_dir: Path) -> set[str]:
    config = tomllib.loads((package_dir / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = config["project"]["dependencies"]
    names = (re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0] for req in requirements)
    return {name.lower().replace("_", "-") for name in names}


def _imported_modules(package_dir: Path) -> set[str]:
    found: set[str] = set()
    for source in package_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("spec", PRODUCT_IMAGES, ids=lambda spec: spec.name)
def test_product_dockerfile_neither_copies_nor_installs_the_demo(spec: ImageSpec) -> None:
    assert demo_problems(spec.dockerfile) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("COPY services/core services/core", "COPY services/core services/core\nCOPY examples x"),
        ("./shared/runtime ./services/core", "./shared/runtime ./services/core ./examples/demo"),
        ("./shared/runtime ./services/core", "./shared/runtime ./services/core authara-demo"),
    ],
    ids=["copy", "install-folder", "install-name"],
)
def test_a_product_dockerfile_with_the_demo_is_caught(tmp_path: Path, old: str, new: str) -> None:
    text = CORE.dockerfile.read_text(encoding="utf-8")
    assert old in text, f"the mutation no longer applies: {old!r}"
    broken = tmp_path / "core.Dockerfile"
    broken.write_text(text.replace(old, new), encoding="utf-8")

    assert demo_problems(broken) != []


def test_the_check_sees_the_demo_in_its_own_dockerfile() -> None:
    assert demo_problems(DEMO.dockerfile) != []


@pytest.mark.parametrize("name", sorted(LOCAL_PACKAGES))
def test_product_packages_neither_depend_on_nor_import_the_demo(name: str) -> None:
    package_dir = LOCAL_PACKAGES[name]

    assert _dependencies(package_dir) & DEV_ONLY_DISTRIBUTIONS == set()
    assert _imported_modules(package_dir) & DEV_ONLY_MODULES == set()
