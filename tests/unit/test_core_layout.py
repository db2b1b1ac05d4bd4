"""Core's layout rules (services/core/README.md), checked on the imports of every module."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final

import authara_core

PACKAGE: Final = "authara_core"
PLATFORM: Final = "platform"
DOMAINS: Final = frozenset(
    {
        "sessions",
        "accounts",
        "oauth",
        "organizations",
        "admin",
        "mail",
        "challenges",
        "webhooks",
        "allowlist",
        "passkeys",
    }
)
# A domain's store and its handlers are its own; other domains go through its service.
PRIVATE_MODULES: Final = frozenset({"store", "routes", "pages", "api"})


def imported_modules(path: Path, module: str) -> set[str]:
    """Return the absolute names of the modules a file imports (relative imports resolved)."""
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, node.module] if node.module else parts)
            else:
                base = node.module or ""
            names.add(base)
            # `from pkg import module` imports the module itself.
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def violations(root: Path) -> list[str]:
    """List every import that breaks the layout rules under `root` (the package folder)."""
    found: set[str] = set()
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        module = ".".join((PACKAGE, *parts)).removesuffix(".__init__")
        area = parts[0] if len(parts) > 1 else None
        if area != PLATFORM and area not in DOMAINS:
            continue  # the composition modules (app, routes, settings, cli) may import anything
        for name in imported_modules(path, module):
            target = name.split(".")
            if target[0] != PACKAGE or len(target) < 2 or target[1] == area:
                continue
            if area == PLATFORM:
                found.add(f"{module} imports {PACKAGE}.{target[1]}: platform imports no domain")
            elif target[1] in DOMAINS and len(target) > 2 and target[2] in PRIVATE_MODULES:
                private = ".".join(target[:3])
                found.add(f"{module} imports {private}: another domain's store or handlers")
    return sorted(found)


def test_core_follows_the_layout_rules() -> None:
    assert violations(Path(authara_core.__file__).parent) == []


def test_every_package_is_platform_or_a_checked_domain() -> None:
    root = Path(authara_core.__file__).parent
    packages = {path.parent.name for path in root.glob("*/__init__.py")}
    assert packages == DOMAINS | {PLATFORM}


def test_the_check_finds_what_breaks_the_rules(tmp_path: Path) -> None:
    root = tmp_path / PACKAGE
    for folder in (PLATFORM, "accounts", "oauth"):
        (root / folder).mkdir(parents=True)
    (root / "platform/render.py").write_text("from authara_core.accounts import service\n")
    (root / "platform/db.py").write_text("from authara_core.settings import Settings\n")
    (root / "oauth/flows.py").write_text(
        "from authara_core.accounts import store\n"
        "from authara_core.accounts.pages import field\n"
        "from authara_core.accounts.service import AccountService\n"
        "from authara_core.platform.db import Database\n"
        "from . import store as own_store\n"
    )
    (root / "accounts/pages.py").write_text("from ..oauth.routes import OAuthRoutes\n")
    assert violations(root) == [
        "authara_core.accounts.pages imports authara_core.oauth.routes:"
        " another domain's store or handlers",
        "authara_core.oauth.flows imports authara_core.accounts.pages:"
        " another domain's store or handlers",
        "authara_core.oauth.flows imports authara_core.accounts.store:"
        " another domain's store or handlers",
        "authara_core.platform.db imports authara_core.settings: platform imports no domain",
        "authara_core.platform.render imports authara_core.accounts: platform imports no domain",
    ]
