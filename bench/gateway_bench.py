"""Benchmark the gateway against Caddy and nginx in one run, on loopback only.

Starts a trivial upstream (nginx answering `200 ok`), then, in front of it: our gateway with
1 and with N worker processes, Caddy (the upstream project's gateway engine, configured like
its Caddyfile) and nginx as a reverse proxy; finally our gateway with identity verification,
hit with a signed-in cookie, next to the same bytes with a cookie it does not verify. Each target is
loaded with wrk for a few seconds, in interleaved rounds so that background load on the machine
hits every target alike; the medians of the rounds are printed as a Markdown table with the
ratios the issue asks for, and the CPU time the proxy spent per request (steadier than req/s on
a busy machine). Every process is started here, talks only to 127.0.0.1, and is stopped before
the script exits.

    .venv/bin/python bench/gateway_bench.py            # about 2 minutes
    .venv/bin/python bench/gateway_bench.py --rounds 1 --duration 3   # a quick look

Needs wrk, nginx and caddy (Debian: `apt-get install wrk nginx caddy`).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

from authara_contract.claims import Audience, OrganizationRole
from authara_contract.env import BY_NAME
from authara_contract.routes import GATEWAY_HEALTH
from authara_contract.tokens import KeySet, encode_access_token

GATEWAY = Path(sys.executable).parent / "authara-gateway"
KEY = b"bench-key-" + b"x" * 32
ISSUER = "https://bench.authara.test"
LOOPBACK = "127.0.0.1"
_LATENCY = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_TOTAL = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Target:
    """One thing wrk is pointed at, and the processes whose CPU time it costs."""

    name: str
    port: int
    pids: tuple[int, ...]
    headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sample:
    """One wrk run: throughput, latency, and proxy CPU time per request."""

    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float


CADDY = "Caddy reverse_proxy"
CADDY_LOGGING = "Caddy reverse_proxy, access log"
GATEWAY_LOGGING = "authara-gateway, access log"


def main() -> int:
    """Run the benchmark and print the table."""
    args = _arguments()
    missing = [tool for tool in ("wrk", "nginx", "caddy") if shutil.which(tool) is None]
    if missing:
        print(f"missing {', '.join(missing)}: apt-get install {' '.join(missing)}")
        return 2
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        work = Path(tmp)

        def start(command: tuple[list[str], dict[str, str] | None], log: str) -> int:
            return stack.enter_context(_Process(command, work / log)).pid

        upstream = _free_port()
        upstream_pid = start(_nginx_upstream(work, upstream), "upstream.log")
        _wait_http(upstream, "/")
        token = _access_token()
        cookie = (f"Cookie: authara_access={token}",)
        targets = [Target("direct (nginx upstream)", upstream, (upstream_pid,))]
        caddy = _free_port()
        targets.append(Target(CADDY, caddy, (start(_caddy(work, caddy, upstream), "caddy.log"),)))
        nginx = _free_port()
        nginx_pid = start(_nginx_proxy(work, nginx, upstream), "nginx.log")
        targets.append(Target("nginx proxy_pass", nginx, (nginx_pid,)))
        for workers in sorted({1, args.workers}):
            port = _free_port()
            pid = start(_gateway(port, upstream, workers), "gateway.log")
            targets.append(Target(f"authara-gateway, {workers} worker(s)", port, (pid,)))
        port = _free_port()
        pid = start(_gateway(port, upstream, args.workers, identity=True), "gateway.log")
        # The same process and the same bytes on the wire, but a cookie nobody verifies:
        # the difference to the next row is what verification and identity headers cost.
        name = f"authara-gateway, {args.workers} worker(s), identity on, anonymous"
        targets.append(Target(name, port, (pid,), (cookie[0].replace("authara_", "unknown_"),)))
        name = f"authara-gateway, {args.workers} worker(s), identity on, signed in"
        targets.append(Target(name, port, (pid,), cookie))
        if args.access_log:
            # Both write one line per request to a file: Caddy's JSON access log and the
            # gateway's JSON access lines (LOG_LEVEL=info, LOG_FORMAT=json).
            port = _free_port()
            pid = start(_caddy(work, port, upstream, access_log=True), "caddy-logging.log")
            targets.append(Target(CADDY_LOGGING, port, (pid,)))
            port = _free_port()
            pid = start(_gateway(port, upstream, args.workers, access_log=True), "gw-access.log")
            targets.append(Target(f"{GATEWAY_LOGGING}, {args.workers} worker(s)", port, (pid,)))
        if args.access_log_only:
            keep = {CADDY, CADDY_LOGGING, f"authara-gateway, {args.workers} worker(s)"}
            keep.add(f"{GATEWAY_LOGGING}, {args.workers} worker(s)")
            targets = [target for target in targets if target.name in keep]
        for target in targets:
            _wait_http(target.port, GATEWAY_HEALTH if "gateway" in target.name else "/")
        results = _measure(targets, args)
    _report(targets, results, args)
    return 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="GATEWAY_WORKERS to compare"
    )
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="also run Caddy and the gateway with their access logs on (written to a file)",
    )
    parser.add_argument(
        "--access-log-only",
        action="store_true",
        help="with --access-log: only Caddy and the N-worker gateway, each with and without",
    )
    args = parser.parse_args()
    if not (1 <= args.rounds <= 10 and 1 <= args.duration <= 30):
        parser.error("keep it bounded: --rounds 1..10, --duration 1..30")
    return args


def _measure(targets: list[Target], args: argparse.Namespace) -> dict[str, list[Sample]]:
    results: dict[str, list[Sample]] = {target.name: [] for target in targets}
    for round_number in range(1, args.rounds + 1):
        # Rotate the order so no target always runs right after the same neighbour.
        shift = (round_number - 1) % len(targets)
        for target in targets[shift:] + targets[:shift]:
            _wrk(target, duration=1, args=args)  # warm up connections and caches
            sample = _wrk(target, duration=args.duration, args=args)
            results[target.name].append(sample)
            print(
                f"round {round_number}: {target.name:45} {sample.rps:9.0f} req/s  "
                f"p50 {sample.p50_ms:6.2f} ms  p99 {sample.p99_ms:6.2f} ms  "
                f"{sample.cpu_us:6.1f} us CPU/req",
                flush=True,
            )
    return results


def _wrk(target: Target, *, duration: int, args: argparse.Namespace) -> Sample:
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{duration}s",
        "--latency",
        f"http://{LOOPBACK}:{target.port}/bench",
    ]
    for header in target.headers:
        command += ["-H", header]
    cpu_before = _cpu_seconds(target.pids)
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=duration + 30
    ).stdout
    cpu = _cpu_seconds(target.pids) - cpu_before
    rps = _RPS.search(output)
    total = _TOTAL.search(output)
    latencies = {m[0]: float(m[1]) * _UNIT_MS[m[2]] for m in _LATENCY.findall(output)}
    broken = "Non-2xx" in output or "Socket errors" in output
    if rps is None or total is None or set(latencies) != {"50", "99"} or broken:
        raise RuntimeError(f"unexpected wrk output for {target.name}:\n{output}")
    return Sample(
        float(rps.group(1)), latencies["50"], latencies["99"], cpu / int(total.group(1)) * 1e6
    )


def _cpu_seconds(pids: tuple[int, ...]) -> float:
    """Return the user+system CPU time of these processes and all their children."""
    total = 0.0
    for pid in pids:
        root = psutil.Process(pid)
        for process in (root, *root.children(recursive=True)):
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
    return total


def _report_ratios(
    targets: list[Target],
    results: dict[str, list[Sample]],
    ratio: Callable[[str], float],
    median: Callable[[str, str], float],
) -> None:
    gateways = [t.name for t in targets if t.name.endswith("worker(s)")]
    best = max(gateways, key=ratio)
    identity = next(t.name for t in targets if t.name.endswith("signed in"))
    plain = next(t.name for t in targets if t.name.endswith("anonymous"))
    identity_ratios = [
        mine.rps / base.rps for mine, base in zip(results[identity], results[plain], strict=True)
    ]
    print(
        f"best gateway ({best}) vs Caddy: throughput {ratio(best):.2f}x, p99 "
        f"{median(best, 'p99_ms') / median(CADDY, 'p99_ms'):.2f}x Caddy's, CPU per request "
        f"{median(best, 'cpu_us') / median(CADDY, 'cpu_us'):.2f}x Caddy's"
    )
    print(
        f"identity verification: throughput {statistics.median(identity_ratios):.2f}x the same "
        f"traffic with a cookie nobody verifies, CPU per request "
        f"{median(identity, 'cpu_us') / median(plain, 'cpu_us'):.2f}x"
    )


def _report(
    targets: list[Target], results: dict[str, list[Sample]], args: argparse.Namespace
) -> None:
    def median(name: str, field: str) -> float:
        return statistics.median(getattr(sample, field) for sample in results[name])

    def ratio(name: str) -> float:
        # Per round, against Caddy in the same round: slow drifts of background load cancel.
        pairs = zip(results[name], results[CADDY], strict=True)
        return statistics.median(mine.rps / caddy.rps for mine, caddy in pairs)

    print()
    print(
        f"{os.cpu_count()} cores, wrk -t{args.threads} -c{args.connections} "
        f"-d{args.duration}s, median of {args.rounds} interleaved round(s)"
    )
    header = ("target", "req/s", "p50 ms", "p99 ms", "proxy CPU us/req", "req/s vs Caddy")
    print("| " + " | ".join(header) + " |")
    print("|---|---:|---:|---:|---:|---:|")
    for target in targets:
        name = target.name
        print(
            f"| {name} | {median(name, 'rps'):.0f} | {median(name, 'p50_ms'):.2f} | "
            f"{median(name, 'p99_ms'):.2f} | {median(name, 'cpu_us'):.0f} | {ratio(name):.2f}x |"
        )
    print()
    if not args.access_log_only:
        _report_ratios(targets, results, ratio, median)
    if args.access_log:
        logging = f"{GATEWAY_LOGGING}, {args.workers} worker(s)"
        quiet = f"authara-gateway, {args.workers} worker(s)"
        vs_caddy = statistics.median(
            mine.rps / caddy.rps
            for mine, caddy in zip(results[logging], results[CADDY_LOGGING], strict=True)
        )
        kept = statistics.median(
            mine.rps / base.rps for mine, base in zip(results[logging], results[quiet], strict=True)
        )
        cpu = median(logging, "cpu_us") / median(quiet, "cpu_us")
        print(
            f"access log on: gateway {vs_caddy:.2f}x Caddy with its access log; the log costs "
            f"the gateway {(1 - kept) * 100:.1f}% of its throughput ({kept:.2f}x without it) "
            f"and {(cpu - 1) * 100:.1f}% more CPU per request"
        )


class _Process:
    """A child process stopped with SIGTERM (then SIGKILL) when the block ends."""

    def __init__(self, command: tuple[list[str], dict[str, str] | None], log: Path) -> None:
        argv, env = command
        with log.open("ab") as output:
            self._process = subprocess.Popen(
                argv, env=env, stdout=subprocess.DEVNULL, stderr=output
            )
        self.pid = self._process.pid

    def __enter__(self) -> _Process:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def _nginx_upstream(work: Path, port: int) -> tuple[list[str], None]:
    return _nginx(
        work,
        "upstream",
        f"""
        server {{
            listen {LOOPBACK}:{port};
            keepalive_requests 1000000;
            location / {{ default_type text/plain; return 200 "ok\\n"; }}
        }}
        """,
        workers=1,
    )


def _nginx_proxy(work: Path, port: int, upstream: int) -> tuple[list[str], None]:
    return _nginx(
        work,
        "proxy",
        f"""
        upstream app {{ server {LOOPBACK}:{upstream}; keepalive 128; }}
        server {{
            listen {LOOPBACK}:{port};
            keepalive_requests 1000000;
            location / {{
                proxy_pass http://app;
                proxy_http_version 1.1;
                proxy_set_header Connection "";
                proxy_set_header Host $host;
                proxy_set_header X-Forwarded-For $remote_addr;
            }}
        }}
        """,
        workers="auto",
    )


def _nginx(work: Path, name: str, server: str, *, workers: int | str) -> tuple[list[str], None]:
    config = work / f"nginx-{name}.conf"
    config.write_text(
        f"""
        worker_processes {workers};
        daemon off;
        pid {work}/nginx-{name}.pid;
        error_log {work}/nginx-{name}.log warn;
        events {{ worker_connections 4096; }}
        http {{
            access_log off;
            client_body_temp_path {work}/body-{name};
            proxy_temp_path {work}/proxy-{name};
            fastcgi_temp_path {work}/fastcgi-{name};
            uwsgi_temp_path {work}/uwsgi-{name};
            scgi_temp_path {work}/scgi-{name};
            {server}
        }}
        """
    )
    return ["nginx", "-c", str(config), "-p", str(work), "-e", f"{work}/nginx-{name}.log"], None


def _caddy(
    work: Path, port: int, upstream: int, *, access_log: bool = False
) -> tuple[list[str], dict[str, str]]:
    # The upstream project's Caddyfile, with both upstreams pointing at the trivial server.
    caddyfile = work / f"Caddyfile-{port}"
    log = f"log {{\n output file {work}/caddy-access-{port}.log\n format json\n }}"
    caddyfile.write_text(
        f"""
        {{
            admin off
            auto_https off
            storage file_system {work}/caddy
        }}
        http://{LOOPBACK}:{port} {{
            bind {LOOPBACK}
            {log if access_log else ""}
            @compressible {{
                not path /auth/static/*
                not header Accept text/event-stream
                not header Connection *Upgrade*
            }}
            encode @compressible zstd gzip
            handle /auth/* {{
                reverse_proxy {LOOPBACK}:{upstream}
            }}
            handle {{
                reverse_proxy {LOOPBACK}:{upstream}
            }}
        }}
        """
    )
    env = {
        **os.environ,
        "HOME": str(work),
        "XDG_DATA_HOME": str(work),
        "XDG_CONFIG_HOME": str(work),
    }
    return ["caddy", "run", "--config", str(caddyfile), "--adapter", "caddyfile"], env


def _gateway(
    port: int, upstream: int, workers: int, *, identity: bool = False, access_log: bool = False
) -> tuple[list[str], dict[str, str]]:
    env = {key: value for key, value in os.environ.items() if key not in BY_NAME}
    env.update(
        GATEWAY_BIND=f"{LOOPBACK}:{port}",
        AUTHARA_UPSTREAM=f"{LOOPBACK}:{upstream}",
        APP_UPSTREAM=f"{LOOPBACK}:{upstream}",
        GATEWAY_WORKERS=str(workers),
        APP_ENV="prod",
        LOG_LEVEL="warn",  # no access log, as Caddy by default (and nginx here)
    )
    if access_log:
        env.update(LOG_LEVEL="info", LOG_FORMAT="json")  # one JSON line per request
    if identity:
        env.update(
            AUTHARA_JWT_KEYS=f"bench:{base64.b64encode(KEY).decode()}",
            AUTHARA_JWT_ISSUER=ISSUER,
        )
    return [str(GATEWAY)], env


def _access_token() -> str:
    return encode_access_token(
        keys=KeySet(keys={"bench": KEY}, active_kid="bench"),
        issuer=ISSUER,
        user_id=uuid.uuid4(),
        session_id=uuid.uuid4(),
        organization_id=uuid.uuid4(),
        organization_role=OrganizationRole.MEMBER,
        audience=Audience.APP,
        roles=(),
        now=datetime.now(UTC),
        ttl=timedelta(hours=1),
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
    return port


def _wait_http(port: int, path: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{LOOPBACK}:{port}{path}", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answers on {LOOPBACK}:{port}{path}")


if __name__ == "__main__":
    raise SystemExit(main())
