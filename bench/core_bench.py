"""Core's hot paths against their floors, measured in one run on one machine.

    .venv/bin/python bench/core_bench.py [--workers N] [--duration 5] [--rounds 5]

Starts an embedded PostgreSQL and a real `authara-core` (AUTHARA_WORKERS=N, default: one per
CPU core), then measures each path next to the floor it cannot beat, run in as many processes
as core has workers, in interleaved rounds (this machine is noisy: the report is the median
ratio):
  GET  /auth/api/v1/user                      vs  a raw asyncpg loop doing the same lookup (the
                                                  user, their roles and their membership in the
                                                  token's organization: one query)
  POST /auth/api/v1/tokens/refresh (always)   vs  a raw asyncpg loop running the same transaction
  POST /auth/api/v1/login                     vs  raw argon2id verify with the same parameters,
                                                  at concurrency = CPU cores
HTTP load comes from wrk when it is installed (a C client that leaves the CPU to the server);
the floors are Python loops on uvloop with a pool configured like core's (a Python process
doing the work is what they measure), one per core worker, started at the same moment and
sharing the connections. Traffic stays on 127.0.0.1.

Both sides of a pair are treated alike: each measurement starts after the machine has rested
for a few seconds and a second of discarded warm-up load, and the rounds alternate which side
goes first, so what one measurement leaves behind (autovacuum after the refresh writes, a host
slowed by the argon2 rounds) does not always land on the same side.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import argon2
import asyncpg
import psycopg
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))

import wrk
from authara_contract.claims import ROLE_PREFIX, Audience
from authara_contract.database import DatabaseSettings
from authara_core.accounts import store as user_store
from authara_core.organizations import store as organization_store
from authara_core.platform.clock import SystemClock
from authara_core.platform.db import Database, release_connection
from authara_core.platform.render import json_response
from authara_core.sessions import store as session_store
from authara_core.sessions.responses import user_json
from authara_core.sessions.service import SessionService
from authara_core.sessions.tokens import hash_refresh_token, successor_token
from authara_core.settings import load_settings
from authara_devstack.embedded_pg import EmbeddedPostgres, free_port
from authara_migrations import runner
from authara_runtime.loops import new_event_loop
from loadgen import Samples, Stats, closed_loop, closed_loop_samples, merge

KEY = b"b" * 32
PASSWORD = "correct horse battery staple"  # noqa: S105  (a benchmark account)
ARGON2 = {"time_cost": 3, "memory_cost": 65536, "parallelism": 4}  # core's defaults
BIN = Path(sys.executable).parent
CSRF = {"X-CSRF-Token": "bench", "Cookie": "authara_csrf=bench"}
TARGETS = {"user": 0.5, "refresh": 0.5, "login": 0.9}
FLOOR_START_S = 3.0  # time for spawned floor processes to import and connect
WARMUP_S = 1.0  # discarded load before every measurement, app and floor alike
Worker = Callable[[int], Callable[[], Awaitable[bool]]]


def core_environment(db: DatabaseSettings, port: int, workers: int) -> dict[str, str]:
    """Production defaults, except limits that would throttle a benchmark."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LOG_LEVEL": "error",
        "POSTGRESQL_HOST": db.host,
        "POSTGRESQL_PORT": str(db.port),
        "POSTGRESQL_DATABASE": db.database,
        "POSTGRESQL_USERNAME": db.username,
        "POSTGRESQL_PASSWORD": "",
        "PUBLIC_URL": "http://127.0.0.1:3000",
        "AUTHARA_BIND": f"127.0.0.1:{port}",
        "AUTHARA_JWT_ISSUER": "bench",
        "AUTHARA_JWT_ACTIVE_KEY_ID": "k1",
        "AUTHARA_JWT_KEYS": f"k1:{base64.b64encode(KEY).decode()}",
        "AUTHARA_REFRESH_TOKEN_ROTATION_INTERVAL": "always",
        "AUTHARA_DB_MAX_OPEN_CONNS": "20",
        "AUTHARA_WORKERS": str(workers),
        **{
            f"AUTHARA_RATE_LIMIT_{kind}_LIMIT": "100000000"
            for kind in ("LOGIN_IP", "LOGIN_EMAIL", "SIGNUP_IP", "SIGNUP_EMAIL")
        },
    }


@dataclass(frozen=True)
class FloorJob:
    """One floor loop for one process: what to run, against which database, how hard."""

    kind: str  # "user": the lookup /user does; "refresh": the rotation transaction
    database: DatabaseSettings
    concurrency: int
    duration_s: float
    subject: str | list[str]  # the user id, or the refresh tokens (one chain per connection)
    organization: str = ""  # "user": the organization the user's access token names
    start_at: float = 0.0  # wall-clock time at which every process starts its warm-up


def split(total: int, parts: int) -> list[int]:
    """Spread `total` connections over `parts` processes (every process gets at least one)."""
    return [max(1, total // parts + (1 if index < total % parts else 0)) for index in range(parts)]


def run_floor(job: FloorJob) -> Samples:
    """Run one floor loop in this (spawned) process, on uvloop like core."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(_floor(job))


def serve_lookup(
    port: int,
    dsn: str,
    schema: str,
    subject: str,
    organization: str,
    *,
    pool_size: int,
    reuse_port: bool,
) -> None:
    """Serve GET /user with aiohttp's low-level server: the same lookup and JSON, nothing else.

    No router, middleware, token check, request id or security headers: the most an aiohttp
    server doing this lookup can serve, so the reference beside core's figures (and, in
    core_instructions.py, core minus this is what Authara's own code costs).
    """
    user_id, organization_id = uuid.UUID(subject), uuid.UUID(organization)

    async def main() -> None:
        pool = await asyncpg.create_pool(  # configured like core's pool
            dsn,
            min_size=1,
            max_size=pool_size,
            server_settings={"search_path": schema},
            reset=release_connection,
        )

        async def user(_request: web.BaseRequest) -> web.Response:
            found = await organization_store.get_member_with_roles(pool, organization_id, user_id)
            assert found is not None
            row, names, membership = found
            return json_response(
                {
                    **user_json(row),
                    "roles": [ROLE_PREFIX + name for name in names],
                    "organization": {
                        "id": str(membership.organization_id),
                        "name": membership.name,
                        "role": membership.role.value,
                    },
                }
            )

        runner = web.ServerRunner(web.Server(user, access_log=None))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, reuse_port=reuse_port or None).start()
        await asyncio.Event().wait()

    with asyncio.Runner(loop_factory=new_event_loop) as loop_runner:
        loop_runner.run(main())


async def _floor(job: FloorJob) -> Samples:
    db = job.database
    pool = await asyncpg.create_pool(  # configured like core's pool
        db.url(),
        min_size=job.concurrency,
        max_size=job.concurrency,
        server_settings={"search_path": db.schema},
        reset=release_connection,
    )
    try:
        if job.kind == "user":
            assert isinstance(job.subject, str)
            make_worker = user_floor(pool, uuid.UUID(job.subject), uuid.UUID(job.organization))
        else:
            assert isinstance(job.subject, list)
            make_worker = refresh_floor(pool, list(job.subject))
        await asyncio.sleep(max(0.0, job.start_at - time.time()))
        return await closed_loop_samples(
            make_worker, concurrency=job.concurrency, duration_s=job.duration_s
        )
    finally:
        await pool.close()


def user_floor(pool: asyncpg.Pool, user_id: uuid.UUID, organization_id: uuid.UUID) -> Worker:
    """The lookup GET /user does (user, roles, membership in one query), straight from asyncpg."""

    def make(_index: int) -> Callable[[], Awaitable[bool]]:
        async def call() -> bool:
            found = await organization_store.get_member_with_roles(pool, organization_id, user_id)
            return found is not None

        return call

    return make


def refresh_floor(pool: asyncpg.Pool, tokens: list[str]) -> Worker:
    """The rotation transaction POST /tokens/refresh runs, straight from asyncpg."""

    def make(index: int) -> Callable[[], Awaitable[bool]]:
        async def call() -> bool:
            token = tokens[index]
            now = datetime.now(UTC)
            async with pool.acquire() as conn, conn.transaction():
                row = await session_store.lock_refresh_token(conn, hash_refresh_token(token))
                if row is None:
                    return False
                successor = successor_token(token, KEY)
                successor_hash = hash_refresh_token(successor)
                await session_store.consume_refresh_token(
                    conn, token_id=row.id, successor_hash=successor_hash, now=now
                )
                await session_store.insert_refresh_token(
                    conn,
                    session_id=row.session_id,
                    token_hash=successor_hash,
                    expires_at=min(now + timedelta(days=14), row.session_expires_at),
                    now=now,
                )
                await user_store.get_user_with_roles(conn, row.user_id)
            tokens[index] = successor
            return True

        return call

    return make


class Bench:
    """One running core, a pool for the floors, and the measurements."""

    def __init__(self, args: argparse.Namespace, base: str, env: dict[str, str]) -> None:
        self.args = args
        self.base = base
        self.settings = load_settings(env)
        self.http: aiohttp.ClientSession
        self.db: Database
        self.floors: ProcessPoolExecutor
        self.sessions: SessionService
        self.users: list[dict[str, str]] = []
        self.app_first = True
        # aiohttp's low-level server doing only the /user lookup, beside each round's floor.
        self.reference: list[tuple[Stats, Stats]] = []
        self.reference_port = free_port()
        self.reference_processes: list[multiprocessing.process.BaseProcess] = []

    async def __aenter__(self) -> Bench:
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), cookie_jar=aiohttp.DummyCookieJar()
        )
        self.db = Database(self.settings.database, pool_size=4)
        self.floors = ProcessPoolExecutor(
            max_workers=self.args.workers, mp_context=multiprocessing.get_context("spawn")
        )
        await self.db.open()
        self.sessions = SessionService(
            db=self.db, clock=SystemClock(), settings=self.settings.tokens
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.close()
        await self.db.close()
        self.floors.shutdown()
        for process in self.reference_processes:
            process.terminate()
            process.join(timeout=10)

    async def start_reference(self) -> None:
        """Start the reference server in as many processes as core has workers."""
        spawn = multiprocessing.get_context("spawn")
        db = self.settings.database
        for _ in range(self.args.workers):
            process = spawn.Process(
                target=serve_lookup,
                args=(
                    self.reference_port,
                    db.url(),
                    db.schema,
                    self.users[0]["user"]["id"],
                    self.users[0]["organization"]["id"],
                ),
                kwargs={"pool_size": self.settings.db_pool_size, "reuse_port": True},
                daemon=True,
            )
            process.start()
            self.reference_processes.append(process)
        await wait_ok(
            self.http,
            f"http://127.0.0.1:{self.reference_port}/",
            "the reference server",
            alive=lambda: all(process.is_alive() for process in self.reference_processes),
        )

    async def seed(self, count: int) -> None:
        """Create accounts through the API; note each one's organization, as /user shows it."""
        for index in range(count):
            async with self.http.post(
                f"{self.base}/auth/api/v1/signup/direct",
                json={"email": f"bench{index}@example.com", "password": PASSWORD},
                headers=CSRF,
            ) as response:
                if response.status != 201:
                    raise SystemExit(f"seeding failed: {response.status} {await response.text()}")
                issued = await response.json()
            async with self.http.get(
                f"{self.base}/auth/api/v1/user",
                headers={"Cookie": f"authara_access={issued['access_token']}"},
            ) as response:
                if response.status != 200:
                    raise SystemExit(f"seeding failed: {response.status} {await response.text()}")
                issued["organization"] = (await response.json())["organization"]
            self.users.append(issued)

    async def fresh_refresh_tokens(self, count: int) -> list[str]:
        """Start new sessions directly (no argon2), one refresh token each."""
        tokens = []
        async with self.db.transaction() as conn:
            for index in range(count):
                user = await user_store.get_user(
                    conn, uuid.UUID(self.users[index % len(self.users)]["user"]["id"])
                )
                assert user is not None
                issued = await self.sessions.start_in(
                    conn, user, audience=Audience.APP, user_agent="bench"
                )
                tokens.append(issued.refresh_token)
        return tokens

    async def http_load(
        self,
        name: str,
        path: str,
        worker: Worker,
        *,
        connections: int,
        warmup: dict[str, object] | None = None,
        base: str | None = None,
        **wrk_args: object,
    ) -> Stats:
        """Load one path with wrk if installed, else with the Python client.

        Treated as the floors are: the machine first rests for as long as a floor waits for
        its start, then a second of discarded load warms up (`warmup`: other wrk arguments
        for it, where the measured run's state must stay unused), then the measurement.
        """
        url = f"{base or self.base}{path}"
        await asyncio.sleep(FLOOR_START_S)
        if wrk.available():
            await asyncio.to_thread(
                wrk.run_wrk,
                f"{name} (warm-up)",
                url,
                connections=connections,
                duration_s=WARMUP_S,
                **(wrk_args if warmup is None else warmup),
            )
            return await asyncio.to_thread(
                wrk.run_wrk,
                f"{name} (wrk)",
                url,
                connections=connections,
                duration_s=self.args.duration,
                **wrk_args,
            )
        return await closed_loop(
            name, worker, concurrency=connections, duration_s=self.args.duration, warmup_s=WARMUP_S
        )

    async def floor(self, name: str, jobs: list[FloorJob]) -> Stats:
        """Run one floor loop per job, each in its own process, started together."""
        start_at = time.time() + FLOOR_START_S
        loop = asyncio.get_running_loop()
        parts = await asyncio.gather(
            *(
                loop.run_in_executor(self.floors, run_floor, replace(job, start_at=start_at))
                for job in jobs
            )
        )
        return merge(name, list(parts))

    async def in_order(
        self, app: Callable[[], Awaitable[Stats]], floor: Callable[[], Awaitable[Stats]]
    ) -> tuple[Stats, Stats]:
        """Measure both sides: the app first in even rounds, the floor first in odd ones.

        Alternating cancels what one measurement leaves to the next (autovacuum after the
        refresh rounds' writes, warmer caches) instead of charging it to the same side.
        """
        if self.app_first:
            first = await app()
            return first, await floor()
        second = await floor()
        return await app(), second

    async def user(self) -> tuple[Stats, Stats]:
        """GET /user against the same one-query lookup straight from asyncpg."""
        token = self.users[0]["access_token"]
        user_id = self.users[0]["user"]["id"]
        organization_id = self.users[0]["organization"]["id"]
        headers = {"Cookie": f"authara_access={token}"}

        reference_base = f"http://127.0.0.1:{self.reference_port}"

        def worker_for(base: str) -> Worker:
            def make(_index: int) -> Callable[[], Awaitable[bool]]:
                async def call() -> bool:
                    async with self.http.get(
                        f"{base}/auth/api/v1/user", headers=headers
                    ) as response:
                        await response.read()
                        return response.status == 200

                return call

            return make

        app_worker = worker_for(self.base)
        concurrency = self.args.concurrency

        async def app() -> Stats:
            return await self.http_load(
                "GET /auth/api/v1/user",
                "/auth/api/v1/user",
                app_worker,
                connections=concurrency,
                headers=headers,
            )

        async def floor() -> Stats:
            return await self.floor(
                "  floor: asyncpg user lookup",
                [
                    FloorJob(
                        "user",
                        self.settings.database,
                        per_process,
                        self.args.duration,
                        user_id,
                        organization_id,
                    )
                    for per_process in split(concurrency, self.args.workers)
                ],
            )

        app_stats, floor_stats = await self.in_order(app, floor)
        reference = await self.http_load(
            "  reference: aiohttp low-level server, lookup only",
            "/auth/api/v1/user",
            worker_for(reference_base),
            connections=concurrency,
            headers=headers,
            base=reference_base,
        )
        self.reference.append((reference, floor_stats))
        return app_stats, floor_stats

    async def refresh(self) -> tuple[Stats, Stats]:
        """Rotate refresh tokens through the API against the same transaction from asyncpg."""
        chains = max(1, self.args.concurrency // 2)
        # Twice as many tokens as connections: wrk may ask for a request before a reply lands.
        app_tokens = await self.fresh_refresh_tokens(chains * 2)
        warmup_tokens = await self.fresh_refresh_tokens(chains * 2)
        floor_tokens = await self.fresh_refresh_tokens(chains)

        def app_worker(index: int) -> Callable[[], Awaitable[bool]]:
            async def call() -> bool:
                async with self.http.post(
                    f"{self.base}/auth/api/v1/tokens/refresh",
                    json={"refresh_token": app_tokens[index]},
                ) as response:
                    body = await response.json()
                    if response.status != 200:
                        return False
                    app_tokens[index] = body["refresh_token"]
                    return True

            return call

        async def app() -> Stats:
            return await self.http_load(
                "POST /auth/api/v1/tokens/refresh",
                "/auth/api/v1/tokens/refresh",
                app_worker,
                connections=chains,
                script=Path(__file__).with_name("refresh_chain.lua"),
                script_args=app_tokens,
                warmup={
                    "script": Path(__file__).with_name("refresh_chain.lua"),
                    "script_args": warmup_tokens,
                },
            )

        jobs, offset = [], 0
        for per_process in split(chains, self.args.workers):
            tokens = floor_tokens[offset : offset + per_process]
            offset += per_process
            jobs.append(
                FloorJob("refresh", self.settings.database, per_process, self.args.duration, tokens)
            )

        async def floor() -> Stats:
            return await self.floor("  floor: asyncpg rotation transaction", jobs)

        return await self.in_order(app, floor)

    async def login(self) -> tuple[Stats, Stats]:
        """Log in at concurrency = cores against argon2 verify alone on as many threads."""
        cores = os.cpu_count() or 1

        def app_worker(index: int) -> Callable[[], Awaitable[bool]]:
            email = self.users[index % len(self.users)]["user"]["email"]

            async def call() -> bool:
                async with self.http.post(
                    f"{self.base}/auth/api/v1/login",
                    json={"email": email, "password": PASSWORD},
                    headers=CSRF,
                ) as response:
                    await response.read()
                    return response.status == 200

            return call

        hasher = argon2.PasswordHasher(**ARGON2)
        encoded = hasher.hash(PASSWORD)
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(max_workers=cores) as executor:

            def floor_worker(_index: int) -> Callable[[], Awaitable[bool]]:
                async def call() -> bool:
                    return await loop.run_in_executor(executor, hasher.verify, encoded, PASSWORD)

                return call

            # A login takes ~0.2 s, so a window holds few of them and its edges weigh: twice
            # the window for both sides.
            async def app() -> Stats:
                await asyncio.sleep(FLOOR_START_S)  # every measurement starts from a rest
                return await closed_loop(
                    "POST /auth/api/v1/login",
                    app_worker,
                    concurrency=cores,
                    duration_s=2 * self.args.duration,
                )

            async def floor() -> Stats:
                await asyncio.sleep(FLOOR_START_S)
                return await closed_loop(
                    "  floor: argon2id verify",
                    floor_worker,
                    concurrency=cores,
                    duration_s=2 * self.args.duration,
                )

            return await self.in_order(app, floor)


Results = dict[str, list[tuple[Stats, Stats]]]


async def run(args: argparse.Namespace, db: DatabaseSettings) -> tuple[Results, Results]:
    """Start core and run every pair once per round; return them and the /user reference."""
    port = free_port()
    env = core_environment(db, port, args.workers)
    process = subprocess.Popen([str(BIN / "authara-core")], env=env)  # noqa: ASYNC220
    results: Results = {name: [] for name in TARGETS}
    reference: Results = {}
    try:
        async with Bench(args, f"http://127.0.0.1:{port}", env) as bench:
            await wait_ok(
                bench.http,
                f"{bench.base}/auth/health",
                "authara-core",
                alive=lambda: process.poll() is None,
            )
            await bench.seed(4)
            await bench.start_reference()
            for round_ in range(args.rounds):
                print(f"round {round_ + 1}/{args.rounds}", file=sys.stderr)
                bench.app_first = round_ % 2 == 0
                results["user"].append(await bench.user())
                results["refresh"].append(await bench.refresh())
                results["login"].append(await bench.login())
            reference["user"] = bench.reference
    finally:
        process.terminate()
        process.wait(timeout=20)
    return results, reference


async def wait_ok(
    http: aiohttp.ClientSession, url: str, what: str, *, alive: Callable[[], bool]
) -> None:
    """Poll a URL until it answers 200; give up if its server exits or after 30 s."""
    for _ in range(300):
        if not alive():
            raise SystemExit(f"{what} exited")
        try:
            async with http.get(url) as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit(f"{what} did not answer")


def report(args: argparse.Namespace, results: Results, reference: Results, seconds: float) -> None:
    """Print every round and the median ratio per path, and the /user reference."""
    print(
        f"\nmachine: {os.cpu_count()} CPU cores, PostgreSQL 18 (embedded, fsync on), "
        f"core with {args.workers} worker(s), floors in as many processes, "
        f"{args.rounds} rounds x {args.duration:.0f}s per measurement "
        f"(login {2 * args.duration:.0f}s), {seconds:.0f}s in all\n"
    )
    for name, pairs in results.items():
        ratios = [app.rate / floor.rate for app, floor in pairs]
        for app, floor in pairs:
            print(app.line())
            print(floor.line())
        median = statistics.median(ratios)
        verdict = "meets" if median >= TARGETS[name] else "MISSES"
        listed = ", ".join(f"{r:.2f}" for r in ratios)
        print(f"  {name}: median ratio {median:.2f}x of floor ({listed})")
        print(f"  target >= {TARGETS[name]}x: {verdict}\n")
    for name, pairs in reference.items():
        ratios = [ref.rate / floor.rate for ref, floor in pairs]
        of_reference = [
            app.rate / ref.rate for (app, _), (ref, _) in zip(results[name], pairs, strict=True)
        ]
        for ref, _floor in pairs:
            print(ref.line())
        listed = ", ".join(f"{r:.2f}" for r in ratios)
        print(
            f"  {name} reference (aiohttp alone, no Authara code): median ratio "
            f"{statistics.median(ratios):.2f}x of the same floor ({listed});\n"
            f"  core served {statistics.median(of_reference):.2f}x of the reference\n"
        )


def main() -> None:
    """Parse options, prepare a database, run and report."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved rounds (median reported)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=16, help="connections for /user (half for refresh)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="core's AUTHARA_WORKERS, and processes per floor (default: CPU cores)",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="authara-bench-") as tmp,
        bench_database(Path(tmp)) as db,
    ):
        results, reference = asyncio.run(run(args, db))
    report(args, results, reference, time.perf_counter() - started)


@contextlib.contextmanager
def bench_database(folder: Path) -> Iterator[DatabaseSettings]:
    """Start an embedded PostgreSQL in `folder` with a migrated database; stop it after."""
    server = EmbeddedPostgres(folder, free_port())
    server.start()
    try:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE authara_bench")
        db = DatabaseSettings(
            host=server.host, port=server.port, database="authara_bench", username=server.user
        )
        runner.upgrade(db)
        yield db
    finally:
        server.stop()


if __name__ == "__main__":
    main()
