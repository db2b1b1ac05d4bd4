"""Run the real OpenID Connect provider (npm `oidc-provider`, tests/e2e/oidc/) as a process.

`ensure_installed()` runs `npm ci` from the committed package-lock.json when node_modules is
missing (a clean clone, CI); `running_oidc_provider()` starts `node provider.mjs` with one
client registered for the given callback URLs and stops it afterwards. Both fail the test
with the reason (and the process output) instead of skipping.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from .node_toolchain import NODE, node_path, npm

OIDC_DIR: Final = Path(__file__).parent / "oidc"
READY_PREFIX: Final = "oidc-provider ready at "
INSTALL_TIMEOUT_S: Final = 300.0
STARTUP_TIMEOUT_S: Final = 30.0
STOP_TIMEOUT_S: Final = 10.0


class OidcProviderError(RuntimeError):
    """The provider could not be installed or started."""


def ensure_installed() -> None:
    """Install the provider's npm dependencies from the lock file when they are missing."""
    if (OIDC_DIR / "node_modules" / "oidc-provider" / "package.json").is_file():
        return
    result = subprocess.run(
        npm("ci", "--no-audit", "--no-fund", "--loglevel=error"),
        cwd=OIDC_DIR,
        env={**os.environ, "PATH": node_path()},
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        raise OidcProviderError(f"npm ci in {OIDC_DIR} failed:\n{result.stdout}{result.stderr}")


@dataclass
class OidcProviderProcess:
    """A running provider and what it printed."""

    process: subprocess.Popen[str]
    issuer: str = ""
    lines: list[str] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def read_output(self) -> None:
        """Copy the output into `lines` (run on a thread)."""
        assert self.process.stdout is not None
        with self.process.stdout as stream:
            for raw in stream:
                with self._changed:
                    self.lines.append(raw.rstrip("\n"))
                    self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_ready(self) -> None:
        """Wait for the ready line; raise with the output when it does not come."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        with self._changed:
            while True:
                for line in self.lines:
                    if line.startswith(READY_PREFIX):
                        self.issuer = line.removeprefix(READY_PREFIX).strip()
                        return
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise OidcProviderError(
                        "oidc-provider did not start:\n" + "\n".join(self.lines[-40:])
                    )
                self._changed.wait(0.2)

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def running_oidc_provider(
    port: int, *, client_id: str, client_secret: str, redirect_uris: Sequence[str]
) -> Iterator[OidcProviderProcess]:
    """Run the provider on 127.0.0.1:port for the block."""
    ensure_installed()
    environ = {
        "PATH": node_path(),
        "HOME": os.environ.get("HOME", "/tmp"),  # noqa: S108  (node needs some HOME)
        "NODE_ENV": "development",
        "OIDC_PORT": str(port),
        "OIDC_CLIENT_ID": client_id,
        "OIDC_CLIENT_SECRET": client_secret,
        "OIDC_REDIRECT_URIS": ",".join(redirect_uris),
    }
    process = subprocess.Popen(
        [str(NODE), "provider.mjs"],
        cwd=OIDC_DIR,
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    provider = OidcProviderProcess(process=process)
    reader = threading.Thread(target=provider.read_output, name="oidc-provider", daemon=True)
    reader.start()
    try:
        provider.wait_ready()
        yield provider
    finally:
        provider.stop()
        reader.join(5)
