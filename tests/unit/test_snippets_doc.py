"""The integration snippets are documented as they are: every file named, each shown in full.

A fenced block whose info string names a snippet file (```python examples/snippets/x/app.py)
must hold exactly that file's content. Every file in examples/snippets/ must be named in the
document, and every one but the lock files shown in full.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]
SNIPPETS: Final = ROOT / "examples" / "snippets"
DOCUMENT: Final = ROOT / "docs" / "integrating.md"  # the README will embed them later
NAMED_ONLY: Final = frozenset({"package-lock.json"})  # too long to show, linked instead
# ```lang path/to/file\n...``` at the start of a line (fences inside a file are not expected).
_FENCE: Final = re.compile(r"^```\w+ (examples/snippets/\S+)\n(.*?)^```$", re.M | re.S)


def _snippet_files() -> list[str]:
    """Return the snippet files git tracks or would track (node_modules, caches are ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "examples/snippets"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sorted(path for path in listed if (ROOT / path).is_file())


def _shown(markdown: str) -> dict[str, str]:
    shown: dict[str, str] = {}
    for path, body in _FENCE.findall(markdown):
        assert path not in shown, f"{path} is shown twice"
        shown[path] = body
    return shown


def test_there_are_three_snippets() -> None:
    assert sorted(p.name for p in SNIPPETS.iterdir() if p.is_dir()) == [
        "express",
        "go",
        "python_aiohttp",
    ]
    assert "examples/snippets/go/main.go" in _snippet_files()


def test_every_snippet_file_is_named_in_the_document() -> None:
    markdown = DOCUMENT.read_text(encoding="utf-8")
    unnamed = [
        path
        for path in _snippet_files()
        if path not in markdown and path.removeprefix("examples/") not in markdown
    ]
    assert unnamed == []


def test_every_snippet_file_is_shown_in_full_exactly_as_it_is() -> None:
    shown = _shown(DOCUMENT.read_text(encoding="utf-8"))
    expected = [path for path in _snippet_files() if Path(path).name not in NAMED_ONLY]
    assert sorted(shown) == expected
    for path, body in shown.items():
        assert body == (ROOT / path).read_text(encoding="utf-8"), f"{path} differs from the page"


def test_the_blocks_are_read_exactly() -> None:
    page = (
        "```python examples/snippets/a/app.py\nprint(1)\n```\n\n"
        "```go examples/snippets/b/main.go\n```\n"
    )
    assert _shown(page) == {
        "examples/snippets/a/app.py": "print(1)\n",
        "examples/snippets/b/main.go": "",
    }
