"""A real Redis server process for the tests that need one (`/usr/bin/redis-server`).

Each test starts its own on a free port, with nothing kept on disk, so it can stop, kill,
pause or restart it without touching anyone else's (the machine's Redis at 6379 is shared).

    with RedisProcess.started(tmp_path) as redis:
        settings = redis.settings()          # RedisSettings for core or the gateway
        redis.kill(); redis.start()          # the same port again, empty
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from authara_runtime.cache import RedisSettings

READY_TIMEOUT = 10.0


def redis_server_binary() -> str:
    """Return the redis-server executable; fail the test with a clear line when it is missing."""
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if found is None:
        raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisProcess:
    """One redis-server on 127.0.0.1:<port>, restartable on the same port."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = folder
        self.port = port or _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    @contextlib.contextmanager
    def started(cls, folder: Path) -> Iterator[RedisProcess]:
        """Start a server and stop it when the block ends (whatever state the test left it in)."""
        server = cls(folder)
        server.start()
        try:
            yield server
        finally:
            server.stop()

    @property
    def url(self) -> str:
        """Return `redis://127.0.0.1:<port>/0`."""
        return f"redis://127.0.0.1:{self.port}/0"

    def settings(self, db: int = 0) -> RedisSettings:
        """Return the settings core and the gateway use to reach this server."""
        return RedisSettings(host="127.0.0.1", port=self.port, password=None, db=db)

    def environ(self) -> dict[str, str]:
        """Return the environment that points core or the gateway at this server."""
        return {
            "AUTHARA_CACHE_PROVIDER": "redis",
            "AUTHARA_REDIS_HOST": "127.0.0.1",
            "AUTHARA_REDIS_PORT": str(self.port),
        }

    def start(self) -> None:
        """Start (or start again, empty) on this object's port and wait until it answers PING."""
        if self.running:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        log = (self.folder / f"redis-{self.port}.log").open("ab")
        self._process = subprocess.Popen(
            [
                redis_server_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT
        while not self._answers_ping():
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited: see {self.folder}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer within {READY_TIMEOUT}s")
            time.sleep(0.02)

    @property
    def running(self) -> bool:
        """Tell whether the process is alive (paused counts as alive)."""
        return self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        """SIGKILL the server (its data is gone: nothing is kept on disk)."""
        if self._process is not None and self.running:
            os.kill(self._process.pid, signal.SIGCONT)
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None

    def stop(self) -> None:
        """Stop the server, whatever state it is in."""
        self.kill()

    def pause(self) -> None:
        """SIGSTOP the server: connections stay open and nothing answers."""
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a paused server."""
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGCONT)

    def client(self) -> redis.Redis:
        """Return a synchronous client of this server (for a test's own reads and writes)."""
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def _answers_ping(self) -> bool:
        with self.client() as client:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False
