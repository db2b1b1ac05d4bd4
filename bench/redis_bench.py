"""What `AUTHARA_CACHE_PROVIDER=redis` costs core: identify and login, redis vs noop.

    .venv/bin/python bench/redis_bench.py [--rounds 5] [--duration 3] [--concurrency 8]

Starts an embedded PostgreSQL (migrated), a redis-server on a free port and two real
`authara-core` processes (one worker each, same database and keys): one with the noop cache
provider, one with Redis. Then, in interleaved rounds (the side that goes first alternates):
  GET  /auth/api/v1/user   one signed-in token, `--concurrency` connections: with Redis every
                           request pays one MGET (the revocation check)
  POST /auth/api/v1/login  two connections (argon2 dominates): with Redis the IP and email
                           limits are two script calls
and, in this process, `SessionService.identify` alone on a token already verified (the cached
path), noop vs one MGET, as µs per call. The report is the median over rounds of each side
and of the per-round ratio redis/noop. Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from authara_contract.claims import Audience
from authara_core.platform.clock import SystemClock
from authara_core.platform.db import Database
from authara_core.platform.revocation import Revoker
from authara_core.sessions.service import SessionService
from authara_core.settings import load_settings
from authara_devstack.embedded_pg import free_port
from authara_runtime.cache import RedisSettings
from core_bench import bench_database, core_environment, wait_ok
from loadgen import Stats, closed_loop

BIN = Path(sys.executable).parent
PASSWORD = "correct horse battery staple"  # noqa: S105  (a benchmark account)
CSRF = {"X-CSRF-Token": "bench", "Cookie": "authara_csrf=bench"}
IDENTIFY_CALLS = 20000


def start_redis(folder: Path, port: int) -> subprocess.Popen[bytes]:
    """Start a redis-server that keeps nothing on disk."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    return subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def signup(http: aiohttp.ClientSession, base: str, email: str) -> str:
    """Create an account through core's API; return its access token."""
    async with http.post(
        f"{base}/auth/api/v1/signup/direct",
        json={"email": email, "password": PASSWORD},
        headers=CSRF,
    ) as response:
        assert response.status == 201, await response.text()
        body = await response.json()
    token: str = body["access_token"]
    return token


async def measure_user(
    http: aiohttp.ClientSession, base: str, token: str, args: argparse.Namespace, name: str
) -> Stats:
    headers = {"Cookie": f"authara_access={token}"}

    def make(_index: int):
        async def call() -> bool:
            async with http.get(f"{base}/auth/api/v1/user", headers=headers) as response:
                await response.read()
                return response.status == 200

        return call

    return await closed_loop(
        name, make, concurrency=args.concurrency, duration_s=args.duration, warmup_s=0.5
    )


async def measure_login(
    http: aiohttp.ClientSession, base: str, email: str, args: argparse.Namespace, name: str
) -> Stats:
    body = {"email": email, "password": PASSWORD}

    def make(_index: int):
        async def call() -> bool:
            async with http.post(f"{base}/auth/api/v1/login", json=body, headers=CSRF) as response:
                await response.read()
                return response.status == 200

        return call

    return await closed_loop(name, make, concurrency=2, duration_s=args.duration, warmup_s=0.5)


async def identify_us(sessions: SessionService, token: str) -> float:
    """Return µs per `identify` of one token (verified once, then cached)."""
    await sessions.identify(token, audiences=(Audience.APP,))
    started = time.perf_counter()
    for _ in range(IDENTIFY_CALLS):
        await sessions.identify(token, audiences=(Audience.APP,))
    return (time.perf_counter() - started) / IDENTIFY_CALLS * 1e6


async def run(args: argparse.Namespace, folder: Path) -> dict[str, list[tuple[float, float]]]:
    """Return, per measurement, (noop, redis) pairs: one per round."""
    redis_port = free_port()
    redis_server = start_redis(folder, redis_port)
    processes: list[subprocess.Popen[bytes]] = [redis_server]
    results: dict[str, list[tuple[float, float]]] = {
        "GET /user req/s": [],
        "GET /user p50 ms": [],
        "POST /login req/s": [],
        "POST /login p50 ms": [],
        "identify µs/call": [],
    }
    try:
        with bench_database(folder / "pg") as db:
            bases, envs = {}, {}
            for side in ("noop", "redis"):
                port = free_port()
                env = {**core_environment(db, port, 1), "AUTHARA_CACHE_PROVIDER": side}
                if side == "redis":
                    env |= {
                        "AUTHARA_REDIS_HOST": "127.0.0.1",
                        "AUTHARA_REDIS_PORT": str(redis_port),
                    }
                envs[side] = env
                bases[side] = f"http://127.0.0.1:{port}"
                processes.append(subprocess.Popen([str(BIN / "authara-core")], env=env))  # noqa: ASYNC220
            async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), cookie_jar=aiohttp.DummyCookieJar()
            ) as http:
                for side, base in bases.items():
                    await wait_ok(http, f"{base}/auth/health", side, alive=lambda: True)
                token = await signup(http, bases["noop"], "bench@example.com")
                settings = load_settings(envs["redis"])
                clock = SystemClock()
                database = Database(settings.database, pool_size=1)  # never opened: not used
                assert settings.cache is not None
                client = RedisSettings("127.0.0.1", redis_port, None).client()
                ttl = timedelta(minutes=10)
                services = {
                    "noop": SessionService(db=database, clock=clock, settings=settings.tokens),
                    "redis": SessionService(
                        db=database,
                        clock=clock,
                        settings=settings.tokens,
                        revoker=Revoker(client, clock=clock, access_ttl=ttl),
                    ),
                }
                try:
                    for round_ in range(args.rounds):
                        print(f"round {round_ + 1}/{args.rounds}", file=sys.stderr)
                        order = ["noop", "redis"] if round_ % 2 == 0 else ["redis", "noop"]
                        user: dict[str, Stats] = {}
                        login: dict[str, Stats] = {}
                        ident: dict[str, float] = {}
                        for side in order:
                            user[side] = await measure_user(http, bases[side], token, args, side)
                        for side in order:
                            login[side] = await measure_login(
                                http, bases[side], "bench@example.com", args, side
                            )
                        for side in order:
                            ident[side] = await identify_us(services[side], token)
                        results["GET /user req/s"].append((user["noop"].rate, user["redis"].rate))
                        results["GET /user p50 ms"].append(
                            (user["noop"].p50_ms, user["redis"].p50_ms)
                        )
                        results["POST /login req/s"].append(
                            (login["noop"].rate, login["redis"].rate)
                        )
                        results["POST /login p50 ms"].append(
                            (login["noop"].p50_ms, login["redis"].p50_ms)
                        )
                        results["identify µs/call"].append((ident["noop"], ident["redis"]))
                        errors = sum(s.errors for s in (*user.values(), *login.values()))
                        if errors:
                            raise SystemExit(f"{errors} failed requests in round {round_ + 1}")
                finally:
                    await client.aclose()
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=20)
    return results


def report(results: dict[str, list[tuple[float, float]]], args: argparse.Namespace) -> None:
    """Print medians per side and the median per-round ratio redis/noop."""
    print(
        f"redis vs noop, {args.rounds} rounds of {args.duration:g} s,"
        f" /user concurrency {args.concurrency}, login concurrency 2, core with 1 worker each"
    )
    print(f"{'measurement':<22} {'noop':>10} {'redis':>10} {'redis/noop':>11}")
    for name, pairs in results.items():
        noop = statistics.median(p[0] for p in pairs)
        redis = statistics.median(p[1] for p in pairs)
        ratio = statistics.median(p[1] / p[0] for p in pairs)
        print(f"{name:<22} {noop:>10.2f} {redis:>10.2f} {ratio:>10.3f}x")


def main() -> None:
    """Parse options, run, report."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (medians)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--concurrency", type=int, default=8, help="connections for /user")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="authara-redis-bench-") as tmp:
        results = asyncio.run(run(args, Path(tmp)))
    report(results, args)


if __name__ == "__main__":
    main()
