"""The newcomer's documents: links resolve, and the files the README promises exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import pytest

from authara_contract import VERSION
from authara_contract.headers import IDENTITY_HEADERS

ROOT: Final = Path(__file__).resolve().parents[2]
DOCUMENTS: Final = [
    ROOT / "README.md",
    ROOT / "CHANGELOG.md",
    *sorted((ROOT / "docs").glob("*.md")),
]
# [text](target) where the target is a relative path, optionally with a #fragment.
_LINK: Final = re.compile(r"\]\((?!https?:|mailto:|#)([^)\s#]+)(?:#([^)\s]+))?\)")


def _anchors(markdown: str) -> set[str]:
    """GitHub-style anchors of a document's headings."""
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_relative_link_resolves(document: Path) -> None:
    broken = []
    for target, fragment in _LINK.findall(document.read_text(encoding="utf-8")):
        path = (document.parent / target).resolve()
        if not path.exists():
            broken.append(target)
        elif fragment and path.suffix == ".md" and fragment not in _anchors(path.read_text()):
            broken.append(f"{target}#{fragment}")
    assert broken == []


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    assert _LINK.findall("see [the notes](ARCHITECTURE.md) and [web](https://x.test/a.md)") == [
        ("ARCHITECTURE.md", "")
    ]
    assert not (ROOT / "ARCHITECTURE.md").exists()
    assert "where-upstream-is-buggy" in _anchors("## Where upstream is buggy\n")


def test_license_and_changelog_exist() -> None:
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert f"## {VERSION}\n" in (ROOT / "CHANGELOG.md").read_text()


def test_the_readme_documents_every_identity_header() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Put it in front of your app", 1)[1].split("\n## ", 1)[0]
    for header in IDENTITY_HEADERS:
        assert f"`{header}`" in section
    for fact in (
        "APP_UPSTREAM",
        "GATEWAY_PROTECTED_PATHS",
        "authara:",
        "/auth/api/v1/user",
        "csrf_token",
        "authara_csrf",
        "docs/integrating.md",
    ):
        assert fact in section
