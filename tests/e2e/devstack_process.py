"""Drive `authara dev` as a real OS process: start it, read its output, stop it."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import psutil

from authara_contract.database import DatabaseSettings
from authara_contract.env import ENV_VARS, lookup

READY_PREFIX: Final = "Authara is running at "
STARTUP_TIMEOUT_S: Final = 90.0
STOP_TIMEOUT_S: Final = 45.0
AUTHARA_BIN: Final = Path(sys.executable).parent / "authara"
# Not in the contract table but read by the dev stack's demo app and mail sink.
_EXTRA_STACK_VARS: Final = (
    "DEMO_BIND",
    "AUTHARA_BASE_URL",
    "AUTHARA_DEV_MAIL_BIND",
    "AUTHARA_DEV_MAIL_DIR",
    "AUTHARA_DEV_VIA_MAKE",
)
# argon2id at the OWASP floor: signup and login in the browser tests stay quick.
FAST_HASHING: Final = {
    "AUTHARA_PASSWORD_HASH_TIME_COST": "2",
    "AUTHARA_PASSWORD_HASH_MEMORY_KIB": "19456",
    "AUTHARA_PASSWORD_HASH_PARALLELISM": "1",
}


def hermetic_environ(**overrides: str) -> dict[str, str]:
    """Return this process's environment without any Authara setting, plus `overrides`."""
    names = {var.name for var in ENV_VARS} | set(_EXTRA_STACK_VARS)
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in names and lookup(key) is None  # also AUTHARA_OAUTH_<NAME>_* rows
    }
    environ.update(overrides)
    return environ


def database_environ(db: DatabaseSettings | None) -> dict[str, str]:
    """Return POSTGRESQL_* for an external database, or nothing for the embedded one."""
    if db is None:
        return {}
    return {
        "POSTGRESQL_HOST": db.host,
        "POSTGRESQL_PORT": str(db.port),
        "POSTGRESQL_DATABASE": db.database,
        "POSTGRESQL_USERNAME": db.username,
        "POSTGRESQL_PASSWORD": db.password,
        "POSTGRESQL_SCHEMA": db.schema,
    }


@dataclass
class DevStackProcess:
    """One `authara dev` process and everything it printed so far."""

    process: subprocess.Popen[str]
    port: int
    data_dir: Path
    lines: list[str] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _reader: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """Return the gateway's URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        """Return everything printed so far."""
        with self._changed:
            return "\n".join(self.lines)

    def start_reading(self) -> None:
        """Copy the output into `lines` on a background thread."""
        self._reader = threading.Thread(target=self._read, name="authara-dev-output", daemon=True)
        self._reader.start()

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT_S) -> str:
        """Wait for the ready line and return the announced URL; raise with the output if not."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if line.startswith(READY_PREFIX):
                        return line.removeprefix(READY_PREFIX).strip()
                remaining = deadline - time.monotonic()
                if self.process.poll() is not None and not self._reading():
                    raise AssertionError(
                        f"authara dev exited with {self.process.returncode} before it was ready:\n"
                        + self.output_tail()
                    )
                if remaining <= 0:
                    raise AssertionError(
                        f"authara dev was not ready within {timeout:.0f}s:\n" + self.output_tail()
                    )
                self._changed.wait(min(remaining, 0.5))

    def wait_exit(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """Wait for the process to end and for its output to be read; return its status."""
        status = self.process.wait(timeout)
        if self._reader is not None:
            self._reader.join(10)
        return status

    def terminate(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """Send SIGTERM and return the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def descendants(self) -> list[psutil.Process]:
        """Return every process `authara dev` started, directly or not."""
        return psutil.Process(self.process.pid).children(recursive=True)

    def output_tail(self, lines: int = 60) -> str:
        """Return the last lines of output, for failure messages."""
        with self._changed:
            return "\n".join(self.lines[-lines:])

    def _reading(self) -> bool:
        return self._reader is not None and self._reader.is_alive()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout as stream:
            for raw in stream:
                with self._changed:
                    self.lines.append(raw.rstrip("\n"))
                    self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()


def start_dev_stack(
    port: int,
    data_dir: Path,
    environ: Mapping[str, str],
    *,
    authara_bin: Path = AUTHARA_BIN,
    cwd: Path | None = None,
) -> DevStackProcess:
    """Start `authara dev --port <port> --data-dir <data_dir>` with stdout and stderr merged."""
    process = subprocess.Popen(
        [str(authara_bin), "dev", "--port", str(port), "--data-dir", str(data_dir)],
        env=dict(environ),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    stack = DevStackProcess(process=process, port=port, data_dir=data_dir)
    stack.start_reading()
    return stack


@contextmanager
def running_dev_stack(
    port: int, data_dir: Path, environ: Mapping[str, str]
) -> Iterator[DevStackProcess]:
    """Run a stack for the block; stop it (and check it stopped cleanly) afterwards."""
    stack = start_dev_stack(port, data_dir, environ)
    try:
        stack.wait_ready()
        yield stack
    finally:
        if stack.process.poll() is None:
            stack.terminate()
        if stack.process.poll() is None:
            stack.process.kill()
            stack.process.wait()


def get(base_url: str, path: str, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
    """GET a path from a local HTTP server and return status and body."""
    host, _, port = base_url.removeprefix("http://").partition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", path, headers={"Accept": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()
