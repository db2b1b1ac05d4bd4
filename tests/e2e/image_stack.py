"""Run the compose stack from rehearsed images as local processes, as `docker compose up` would.

Each service of the compose file that runs one of our images becomes a process started with
exactly the image's ENTRYPOINT and CMD (or compose's overrides) and the environment compose
gives its container on top of the image's ENV. The start order and conditions come from
`depends_on`; `service_healthy` runs the image's own HEALTHCHECK command until it passes.

Only the network is translated, in `NetworkMap`: a compose service name with a port becomes a
loopback port chosen for it, a listen address on all interfaces becomes that loopback port, and
the PostgreSQL service becomes the test server (the embedded PostgreSQL stands in for the
postgres image, which creates the database and user named in the same .env).
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from authara_contract.database import DatabaseSettings
from authara_devstack.embedded_pg import free_port
from tests.deploy.compose import command_override, interpolate_tree, service_environment
from tests.deploy.layout import BY_IMAGE
from tests.deploy.rehearsal import Image

DATABASE_SERVICE: Final = "postgres"
HEALTHY_TIMEOUT_S: Final = 60.0
COMPLETED_TIMEOUT_S: Final = 120.0
_WILDCARD_BIND: Final = re.compile(r"^(?:0\.0\.0\.0|::|\[::\])?:(\d+)$")


class StackError(AssertionError):
    """The stack did not come up the way compose would bring it up."""


class NetworkMap:
    """Compose's network on loopback: each `service:port` gets a free local port."""

    def __init__(self, services: set[str], database: DatabaseSettings) -> None:
        self._services = services
        self._database = database
        self._ports: dict[tuple[str, int], int] = {}
        self.binds: set[tuple[str, int]] = set()
        self.references: set[tuple[str, int]] = set()
        names = "|".join(re.escape(name) for name in sorted(services, key=len, reverse=True))
        self._reference = re.compile(rf"(?<![\w.-])({names}):(\d+)\b")
        self._leftover = re.compile(rf"(?<![\w.-])({names})(?![\w.-])")

    def port(self, service: str, port: int) -> int:
        """Return the loopback port standing in for `service:port`."""
        return self._ports.setdefault((service, port), free_port())

    def url(self, service: str, port: int) -> str:
        """Return the base URL of `service:port` on loopback."""
        return f"http://127.0.0.1:{self.port(service, port)}"

    def translate(self, service: str, env: Mapping[str, str]) -> dict[str, str]:
        """Rewrite one container's environment for loopback; refuse names left untranslated."""
        result = dict(env)
        if DATABASE_SERVICE in self._services and "POSTGRESQL_HOST" in result:
            result |= self._database_env(result)
        for name, value in result.items():
            bind = _WILDCARD_BIND.match(value)
            if bind:
                self.binds.add((service, int(bind.group(1))))
                result[name] = f"127.0.0.1:{self.port(service, int(bind.group(1)))}"
                continue
            result[name] = self._reference.sub(self._dial, value)
            if self._leftover.search(result[name]) and name.endswith(
                ("_UPSTREAM", "_URL", "_HOST")
            ):
                raise StackError(f"{service}: {name}={value} names a service without a port")
        return result

    def _dial(self, match: re.Match[str]) -> str:
        target = (match.group(1), int(match.group(2)))
        self.references.add(target)
        return f"127.0.0.1:{self.port(*target)}"

    def _database_env(self, env: Mapping[str, str]) -> dict[str, str]:
        if env["POSTGRESQL_HOST"] != DATABASE_SERVICE or env.get("POSTGRESQL_PORT") != "5432":
            raise StackError(
                f"the database is {env['POSTGRESQL_HOST']}:{env.get('POSTGRESQL_PORT')}"
            )
        db = self._database
        return {
            "POSTGRESQL_HOST": db.host,
            "POSTGRESQL_PORT": str(db.port),
            "POSTGRESQL_DATABASE": db.database,
            "POSTGRESQL_USERNAME": db.username,
            "POSTGRESQL_PASSWORD": db.password,
        }


@dataclass
class Container:
    """One service's process."""

    name: str
    image: Image
    argv: list[str]
    env: dict[str, str]
    depends_on: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        """Start the process, its stdout and stderr going to the log file."""
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.image.workdir if self.image.workdir.exists() else self.image.root,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def run(self, timeout: float = COMPLETED_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        """Run the command to completion (a one-off `docker run`), capturing its output."""
        return subprocess.run(
            self.argv,
            env=self.env,
            cwd=self.image.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit and return its status."""
        assert self.process is not None, f"{self.name} was never started"
        status = self.process.wait(timeout)
        self._close_log()
        return status

    def stop(self, timeout: float) -> int:
        """Send SIGTERM (what `docker stop` sends) and return the exit status."""
        assert self.process is not None, f"{self.name} was never started"
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        """Kill the process if it still runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._close_log()

    def healthy(self) -> bool:
        """Run the image's HEALTHCHECK command once; True when it exits 0."""
        if self.image.healthcheck is None:
            raise StackError(f"{self.name}: depended on as service_healthy but has no HEALTHCHECK")
        argv = [str(self.image.resolve(self.image.healthcheck[0])), *self.image.healthcheck[1:]]
        result = subprocess.run(argv, env=self.env, capture_output=True, timeout=30, check=False)
        return result.returncode == 0

    def output(self) -> str:
        """Return what the process printed so far."""
        return (
            self.log_path.read_text(encoding="utf-8", errors="replace")
            if self.log_path.exists()
            else ""
        )

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass
class Stack:
    """The planned services of one compose project, in start order."""

    containers: dict[str, Container]
    order: list[str]
    network: NetworkMap

    def up(self) -> None:
        """Start every service in order, honouring each `depends_on` condition."""
        for name in self.order:
            container = self.containers[name]
            for dependency, condition in container.depends_on.items():
                self._satisfy(name, dependency, condition)
            container.start()

    def wait(self) -> None:
        """Wait like `docker compose up --wait`: health checks pass, servers accept connections."""
        jobs = {
            dependency
            for container in self.containers.values()
            for dependency, condition in container.depends_on.items()
            if condition == "service_completed_successfully"
        }
        for name in self.order:
            container = self.containers[name]
            assert container.process is not None
            if name in jobs:
                continue  # its dependants already checked that it exited 0
            if container.process.poll() is not None:
                raise StackError(
                    f"{name} exited {container.process.returncode}:\n{container.output()}"
                )
            if container.image.healthcheck is not None:
                wait_healthy(container)
            for service, port in self.network.binds:
                if service == name:
                    wait_listening(container, self.network.port(service, port))

    def down(self) -> None:
        """Kill whatever still runs."""
        for container in self.containers.values():
            container.kill()

    def _satisfy(self, name: str, dependency: str, condition: str) -> None:
        if dependency == DATABASE_SERVICE:
            return  # the test server is up and healthy before the stack starts
        other = self.containers[dependency]
        if condition == "service_completed_successfully":
            status = other.wait(COMPLETED_TIMEOUT_S)
            if status != 0:
                raise StackError(
                    f"{name} waits for {dependency}, which exited {status}:\n{other.output()}"
                )
        elif condition == "service_healthy":
            wait_healthy(other)
        elif condition != "service_started":
            raise StackError(f"{name}: unknown depends_on condition {condition}")


def wait_healthy(container: Container, timeout: float = HEALTHY_TIMEOUT_S) -> None:
    """Poll the container's HEALTHCHECK until it passes; fail if the process dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert container.process is not None
        if container.process.poll() is not None:
            raise StackError(
                f"{container.name} exited {container.process.returncode} before it was healthy:\n"
                + container.output()
            )
        if container.healthy():
            return
        time.sleep(0.3)
    raise StackError(
        f"{container.name} was not healthy within {timeout:.0f}s:\n{container.output()}"
    )


def wait_listening(container: Container, port: int, timeout: float = HEALTHY_TIMEOUT_S) -> None:
    """Wait until something accepts connections on the loopback port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert container.process is not None
        if container.process.poll() is not None:
            raise StackError(
                f"{container.name} exited {container.process.returncode}:\n{container.output()}"
            )
        with socket.socket() as probe:
            probe.settimeout(1)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise StackError(f"{container.name} did not listen on {port} within {timeout:.0f}s")


def plan_stack(
    compose: Mapping[str, Any],
    variables: Mapping[str, str],
    project_dir: Path,
    images: Mapping[str, Image],
    database: DatabaseSettings,
    log_dir: Path,
) -> Stack:
    """Plan the default-profile services that run our images, with loopback networking."""
    services = interpolate_tree(compose["services"], variables)
    active = {name: s for name, s in services.items() if not s.get("profiles")}
    network = NetworkMap(set(services), database)
    containers = {}
    for name, service in active.items():
        spec = BY_IMAGE.get(str(service.get("image", "")).split(":")[0])
        if spec is None:
            if name != DATABASE_SERVICE:
                raise StackError(f"{name}: {service.get('image')} is neither ours nor PostgreSQL")
            continue
        image = images[spec.name]
        env = {
            **image.env,
            **network.translate(name, service_environment(service, project_dir, variables)),
        }
        containers[name] = Container(
            name=name,
            image=image,
            argv=image.argv(
                command_override(service, "entrypoint"), command_override(service, "command")
            ),
            env=env,
            depends_on={
                dep: cond["condition"] for dep, cond in (service.get("depends_on") or {}).items()
            },
            log_path=log_dir / f"{name}.log",
        )
    unserved = network.references - network.binds
    if unserved:
        raise StackError(f"nothing listens on {sorted(unserved)}")
    return Stack(containers, _start_order(containers), network)


def _start_order(containers: Mapping[str, Container]) -> list[str]:
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order or name not in containers:
            return
        if name in visiting:
            raise StackError(f"depends_on cycle through {name}")
        visiting.add(name)
        for dependency in containers[name].depends_on:
            visit(dependency)
        order.append(name)

    for name in sorted(containers):
        visit(name)
    return order
