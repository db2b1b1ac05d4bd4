"""Core on a big database against core on an empty one, in the same run; then the cleanup.

    .venv/bin/python bench/bigdb_bench.py --scale 0.1                 # 100k/300k/1M rows
    .venv/bin/python bench/bigdb_bench.py --seeded-db bigdb_seeded_1  # reuse a bench/seed.py DB

Two databases on one PostgreSQL server (`--url`, default the machine's): one filled by
bench/seed.py (`--scale 1`: 1M users, 3M sessions of which 1M expired, 10M refresh tokens),
one holding only the BENCH_USERS accounts the bench signs in as (the seeded one has them too:
the same emails, the same password). A real `authara-core` (one worker, production settings,
rate limits out of the way, refresh tokens rotated at every refresh) runs on each.

1. Hot paths, in interleaved rounds (the order of the two databases alternates): POST
   /auth/api/v1/login (argon2 dominates it), POST /auth/api/v1/tokens/refresh (a rotation:
   the token's row locked, a successor inserted) and GET /auth/api/v1/user, each with a few
   concurrent clients. Per round and path: the median latency on each database; the report
   gives the median over rounds of seeded / empty (target: <= 1.2).
2. The session cleanup on the seeded database: `SessionService.cleanup()` (the job core runs
   every AUTHARA_SESSION_CLEANUP_INTERVAL, batches of 1000) deletes every expired session and
   its refresh tokens while clients keep signing in and refreshing. Measured: the cleanup's
   time, login latency before and during it, and every lock wait of the database's backends,
   sampled every 5 ms from pg_locks.waitstart (target: no login waits > 100 ms on a lock).
The cleanup deletes what it measures: run bench/seed.py again (or let this script seed a
fresh database) before measuring it again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
import asyncpg
import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))

import seed
from authara_contract.database import DatabaseSettings
from authara_core.platform.clock import SystemClock
from authara_core.platform.db import Database
from authara_core.sessions.service import SessionService
from authara_core.settings import load_settings
from authara_devstack.embedded_pg import free_port
from authara_migrations import runner
from core_bench import BIN, CSRF, core_environment, wait_ok

BENCH_USERS: Final = 1000
TARGET_RATIO: Final = 1.2
MAX_LOCK_WAIT_S: Final = 0.1
API: Final = "/auth/api/v1"


@dataclass
class Core:
    """One authara-core on one database, and the bench's clients of it."""

    name: str
    db: DatabaseSettings
    base: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    refresh_tokens: list[str] = field(default_factory=list)
    access_token: str = ""


def _server(url: str) -> DatabaseSettings:
    info = psycopg.conninfo.conninfo_to_dict(url)
    return DatabaseSettings(
        host=str(info.get("host", "127.0.0.1")),
        port=int(info.get("port", 5432)),
        database=str(info.get("dbname", "postgres")),
        username=str(info.get("user", "postgres")),
        password=str(info.get("password", "")),
    )


def create_database(server: DatabaseSettings, name: str) -> DatabaseSettings:
    """Create (replacing) and migrate a database on the server."""
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    settings = DatabaseSettings(
        host=server.host,
        port=server.port,
        database=name,
        username=server.username,
        password=server.password,
    )
    runner.upgrade(settings)
    return settings


def drop_database(server: DatabaseSettings, name: str) -> None:
    """Drop a database the bench created."""
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextlib.asynccontextmanager
async def running_core(
    name: str, db: DatabaseSettings, http: aiohttp.ClientSession
) -> AsyncIterator[Core]:
    """Start authara-core on a database; stop it on the way out."""
    port = free_port()
    # The bench runs the session cleanup itself, when it measures it: core's own periodic run
    # (every 5 min by default) would share the work (SKIP LOCKED lets two cleaners coexist).
    env = core_environment(db, port, 1) | {"AUTHARA_SESSION_CLEANUP_INTERVAL": "24h"}
    process = subprocess.Popen([str(BIN / "authara-core")], env=env)  # noqa: ASYNC220
    core = Core(name, db, f"http://127.0.0.1:{port}", process, env)
    try:
        await wait_ok(http, f"{core.base}/auth/health", name, alive=lambda: process.poll() is None)
        yield core
    finally:
        process.terminate()
        process.wait(timeout=20)


async def login(http: aiohttp.ClientSession, core: Core, user: int) -> dict[str, Any]:
    """Sign in as seeded user `user`; return the issued tokens."""
    async with http.post(
        f"{core.base}{API}/login",
        json={"email": seed.user_email(user), "password": seed.PASSWORD},
        headers=CSRF,
    ) as response:
        if response.status != 200:
            raise SystemExit(f"{core.name}: login {response.status} {await response.text()}")
        body: dict[str, Any] = await response.json()
        return body


async def refresh(http: aiohttp.ClientSession, core: Core, slot: int) -> None:
    """Rotate the refresh token in `slot` (a chain per client)."""
    async with http.post(
        f"{core.base}{API}/tokens/refresh",
        json={"refresh_token": core.refresh_tokens[slot]},
        headers=CSRF,
    ) as response:
        if response.status != 200:
            raise SystemExit(f"{core.name}: refresh {response.status} {await response.text()}")
        core.refresh_tokens[slot] = (await response.json())["refresh_token"]


async def get_user(http: aiohttp.ClientSession, core: Core) -> None:
    """GET /user with the access token."""
    async with http.get(
        f"{core.base}{API}/user", headers={"Cookie": f"authara_access={core.access_token}"}
    ) as response:
        await response.read()
        if response.status != 200:
            raise SystemExit(f"{core.name}: /user {response.status}")


def _signable(count: int) -> list[int]:
    """Seeded users that can sign in (one in a hundred is disabled)."""
    return [i for i in range(count) if i % 100 != 99]


async def timed(
    clients: int, per_client: int, call: Callable[[int], Awaitable[object]]
) -> list[float]:
    """Run `call(client)` `per_client` times on each of `clients`; return the latencies (s)."""
    latencies: list[float] = []

    async def client(index: int) -> None:
        for _ in range(per_client):
            started = time.perf_counter()
            await call(index)
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies


PATHS: Final = ("login", "refresh", "user")


async def hot_paths(
    http: aiohttp.ClientSession, cores: list[Core], args: argparse.Namespace
) -> dict[str, list[dict[str, float]]]:
    """Per path, per round: the median latency (ms) on each database."""
    users = _signable(BENCH_USERS)
    rng = random.Random(5)
    for core in cores:
        issued = [await login(http, core, rng.choice(users)) for _ in range(args.clients)]
        core.refresh_tokens = [body["refresh_token"] for body in issued]
        core.access_token = issued[0]["access_token"]
    results: dict[str, list[dict[str, float]]] = {path: [] for path in PATHS}
    for round_ in range(args.rounds):
        print(f"round {round_ + 1}/{args.rounds}", file=sys.stderr)
        order = cores if round_ % 2 == 0 else cores[::-1]
        for path in PATHS:
            latencies: dict[str, list[float]] = {core.name: [] for core in cores}
            per_client = args.logins if path == "login" else args.requests
            # The two databases take turns in small slices, so both see the same machine (it
            # is shared: other work comes and goes within a round).
            slices = 1 if path == "login" else 10
            for slice_ in range(slices):
                for core in order if slice_ % 2 == 0 else order[::-1]:
                    calls: dict[str, Callable[[int], Awaitable[object]]] = {
                        "login": lambda _i, c=core: login(http, c, rng.choice(users)),
                        "refresh": lambda i, c=core: refresh(http, c, i),
                        "user": lambda _i, c=core: get_user(http, c),
                    }
                    if slice_ == 0:
                        await timed(args.clients, 2, calls[path])  # warm-up
                    latencies[core.name] += await timed(
                        args.clients, max(per_client // slices, 1), calls[path]
                    )
            results[path].append(
                {name: 1000 * statistics.median(values) for name, values in latencies.items()}
            )
    return results


@dataclass
class LockWaits:
    """The longest lock wait seen per backend, sampled from pg_locks."""

    samples: int = 0
    samples_waiting: int = 0
    longest_s: float = 0.0
    waits: dict[tuple[int, str], float] = field(default_factory=dict)


async def sample_lock_waits(db: DatabaseSettings, stop: asyncio.Event, into: LockWaits) -> None:
    """Every 5 ms, note each waiting lock request of the database's backends and its age."""
    conn = await asyncpg.connect(db.url())
    try:
        while not stop.is_set():
            rows = await conn.fetch(
                """
                SELECT l.pid, l.waitstart::text AS since,
                       extract(epoch FROM clock_timestamp() - l.waitstart) AS waited
                FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE NOT l.granted AND a.datname = $1 AND l.waitstart IS NOT NULL
                """,
                db.database,
            )
            into.samples += 1
            into.samples_waiting += bool(rows)
            for row in rows:
                key = (row["pid"], row["since"])
                into.waits[key] = max(into.waits.get(key, 0.0), float(row["waited"]))
                into.longest_s = max(into.longest_s, float(row["waited"]))
            await asyncio.sleep(0.005)
    finally:
        await conn.close()


@dataclass
class CleanupResult:
    """What the cleanup measurement found."""

    expired_before: int
    deleted: int
    tokens_before: int
    tokens_after: int
    seconds: float
    login_before_ms: list[float]
    login_during_ms: list[float]
    refresh_during_ms: list[float]
    locks: LockWaits


async def _count(db: DatabaseSettings, query: str) -> int:
    conn = await asyncpg.connect(db.url(), server_settings={"search_path": db.schema})
    try:
        value: int = await conn.fetchval(query)
        return value
    finally:
        await conn.close()


async def cleanup(
    http: aiohttp.ClientSession, core: Core, args: argparse.Namespace
) -> CleanupResult:
    """Run the session cleanup on the seeded database under sign-in and refresh traffic."""
    users = _signable(BENCH_USERS)
    rng = random.Random(7)
    expired = await _count(core.db, "SELECT count(*) FROM sessions WHERE expires_at <= now()")
    tokens_before = await _count(core.db, "SELECT count(*) FROM refresh_tokens")
    before = await timed(args.clients, args.logins, lambda _i: login(http, core, rng.choice(users)))
    settings = load_settings(core.env)
    database = Database(settings.database, pool_size=2)
    await database.open()
    service = SessionService(db=database, clock=SystemClock(), settings=settings.tokens)
    stop, locks = asyncio.Event(), LockWaits()
    during: list[float] = []
    refreshes: list[float] = []

    async def traffic(index: int) -> None:
        while not stop.is_set():
            started = time.perf_counter()
            await login(http, core, rng.choice(users))
            during.append(time.perf_counter() - started)
            started = time.perf_counter()
            await refresh(http, core, index)
            refreshes.append(time.perf_counter() - started)

    sampler = asyncio.create_task(sample_lock_waits(core.db, stop, locks))
    clients = [asyncio.create_task(traffic(i)) for i in range(args.clients)]
    started = time.perf_counter()
    try:
        deleted = await service.cleanup()
        seconds = time.perf_counter() - started
    finally:
        stop.set()
        await asyncio.gather(sampler, *clients)
        await database.close()
    tokens_after = await _count(core.db, "SELECT count(*) FROM refresh_tokens")
    return CleanupResult(
        expired,
        deleted,
        tokens_before,
        tokens_after,
        seconds,
        [1000 * s for s in before],
        [1000 * s for s in during],
        [1000 * s for s in refreshes],
        locks,
    )


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(
    args: argparse.Namespace,
    shape: str,
    results: dict[str, list[dict[str, float]]],
    clean: CleanupResult | None,
) -> bool:
    """Print the tables; tell whether every target was met."""
    ok = True
    print(
        f"\nmachine: {os.cpu_count()} CPU cores (shared), PostgreSQL at {args.url}; "
        f"seeded: {shape}; empty: {BENCH_USERS} users; core: 1 worker each; "
        f"{args.rounds} rounds, {args.clients} clients, {args.logins} logins and "
        f"{args.requests} refreshes and /user requests per client per round\n"
    )
    print("| path | empty p50 ms | seeded p50 ms | seeded / empty (median of rounds) |")
    print("|---|---:|---:|---:|")
    for path in PATHS:
        rounds = results[path]
        empty = statistics.median(r["empty"] for r in rounds)
        seeded = statistics.median(r["seeded"] for r in rounds)
        ratio = statistics.median(r["seeded"] / r["empty"] for r in rounds)
        ok &= ratio <= TARGET_RATIO
        print(f"| {path} | {empty:.2f} | {seeded:.2f} | {ratio:.2f}x |")
    for path in PATHS:
        per_round = ", ".join(f"{r['seeded'] / r['empty']:.2f}" for r in results[path])
        print(f"    {path} per round: {per_round}")
    if clean is not None:
        waits = sorted(clean.locks.waits.values(), reverse=True)
        ok &= clean.locks.longest_s <= MAX_LOCK_WAIT_S and clean.deleted == clean.expired_before
        rate = clean.deleted / clean.seconds if clean.seconds else 0.0
        print(
            f"\ncleanup: {clean.deleted} of {clean.expired_before} expired sessions deleted in "
            f"{clean.seconds:.1f} s ({rate:.0f}/s, batches of 1000); refresh tokens "
            f"{clean.tokens_before} -> {clean.tokens_after}"
        )
        print("| logins | n | p50 ms | p99 ms | max ms |")
        print("|---|---:|---:|---:|---:|")
        for name, values in (
            ("before the cleanup", clean.login_before_ms),
            ("during the cleanup", clean.login_during_ms),
            ("refreshes during the cleanup", clean.refresh_during_ms),
        ):
            if values:
                print(
                    f"| {name} | {len(values)} | {statistics.median(values):.1f}"
                    f" | {_pct(values, 0.99):.1f} | {max(values):.1f} |"
                )
        print(
            f"lock waits: {clean.locks.samples} samples of pg_locks (every 5 ms), "
            f"{clean.locks.samples_waiting} with a backend waiting; {len(waits)} distinct waits,"
            f" longest {1000 * clean.locks.longest_s:.1f} ms"
            f" (top: {', '.join(f'{1000 * w:.1f}' for w in waits[:5]) or 'none'})"
        )
    print("\ntargets met" if ok else "\ntargets MISSED")
    return ok


async def run(args: argparse.Namespace) -> bool:
    """Prepare both databases, start both cores, measure, clean up."""
    server = _server(args.url)
    created: list[str] = []
    try:
        empty = create_database(server, f"bigdb_empty_{os.getpid()}")
        created.append(empty.database)
        seed.seed(empty.url(), seed.Shape(BENCH_USERS, 0, 0), report=lambda _line: None)
        if args.seeded_db:
            seeded = DatabaseSettings(
                host=server.host,
                port=server.port,
                database=args.seeded_db,
                username=server.username,
                password=server.password,
            )
            shape = f"database {args.seeded_db}"
        else:
            seeded = create_database(server, f"bigdb_seeded_{os.getpid()}")
            created.append(seeded.database)
            target = seed.Shape.scaled(args.scale, teams=True)
            print(f"seeding {target}", file=sys.stderr)
            seconds = seed.seed(
                seeded.url(), target, report=lambda line: print(line, file=sys.stderr)
            )
            shape = f"{target.users} users, {target.sessions} sessions, {target.tokens} tokens"
            print(f"seeded in {seconds:.0f} s", file=sys.stderr)
        counts = await _count(seeded, "SELECT count(*) FROM users")
        shape += f" ({counts} users)"
        async with (
            aiohttp.ClientSession() as http,
            running_core("empty", empty, http) as empty_core,
            running_core("seeded", seeded, http) as seeded_core,
        ):
            results = await hot_paths(http, [empty_core, seeded_core], args)
            clean = None if args.skip_cleanup else await cleanup(http, seeded_core, args)
        return report(args, shape, results, clean)
    finally:
        if not args.keep:
            for name in created:
                drop_database(server, name)


def main() -> None:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--scale", type=float, default=1.0, help="seed.py's scale (1: 1M users)")
    parser.add_argument("--seeded-db", help="an already seeded database on the server")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--logins", type=int, default=5, help="per client per round")
    parser.add_argument("--requests", type=int, default=100, help="per client per round")
    parser.add_argument("--skip-cleanup", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the databases it created")
    args = parser.parse_args()
    sys.exit(0 if asyncio.run(run(args)) else 1)


if __name__ == "__main__":
    main()
