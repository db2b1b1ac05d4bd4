"""The vendored htmx is the file its README names, unmodified, with a matching .gz sibling."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

VENDOR = Path(__file__).parents[2] / "services/core/authara_core/static/vendor"


def test_the_readme_names_the_version_and_checksum_of_the_file() -> None:
    readme = (VENDOR / "README.md").read_text()
    script = (VENDOR / "htmx.min.js").read_bytes()
    version = re.search(r"^# htmx (\S+) \(vendored\)$", readme, re.MULTILINE)
    assert version is not None
    assert f'version:"{version.group(1)}"'.encode() in script
    assert f"`htmx.org@{version.group(1)}`" in readme
    assert f"`{hashlib.sha256(script).hexdigest()}`" in readme
    assert (VENDOR / "htmx-LICENSE").read_text().startswith("Zero-Clause BSD")


def test_the_gzipped_sibling_is_the_same_script() -> None:
    script = (VENDOR / "htmx.min.js").read_bytes()
    assert gzip.decompress((VENDOR / "htmx.min.js.gz").read_bytes()) == script
