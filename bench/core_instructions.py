"""Instructions core executes per request next to its floors, counted by callgrind.

    .venv/bin/python bench/core_instructions.py [--requests 2000]      # ~2 min; needs valgrind

The throughput bench (core_bench.py) is at the mercy of whatever else the machine runs.
Instruction counts are not: valgrind's callgrind counts what one process executes, the same
whatever the other core is doing. Each process below starts under callgrind with counting
off, is warmed up, then counts exactly N requests (or N floor iterations) sent one after
another, and the report divides. All of it in one run, on one embedded PostgreSQL:

  GET  /auth/api/v1/user                   vs  the same lookup from a raw asyncpg loop (user,
                                               roles and membership: one query)
  POST /auth/api/v1/tokens/refresh (always) vs  the same rotation transaction from asyncpg
  and, to show what the HTTP server costs on its own, an aiohttp handler answering the same
  JSON without a database, and aiohttp's low-level server doing the same lookup with none
  of Authara's code around it (core minus that is what Authara itself adds).

Every process runs on uvloop. Kernel work (socket calls) is not counted: core makes twice
the socket calls of a floor, so this ratio is kinder to core than the throughput ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))

from authara_contract.claims import Audience
from authara_contract.database import DatabaseSettings
from authara_core.accounts import store as user_store
from authara_core.platform.clock import SystemClock
from authara_core.platform.db import Database, release_connection
from authara_core.sessions.service import SessionService
from authara_core.settings import load_settings
from authara_devstack.embedded_pg import free_port
from authara_runtime.loops import new_event_loop
from core_bench import (
    PASSWORD,
    bench_database,
    core_environment,
    refresh_floor,
    serve_lookup,
    user_floor,
)

BIN = Path(sys.executable).parent
SCRIPT = Path(__file__).resolve()
WARMUP = 200
# argon2 at the OWASP floor: only the signup that seeds the account hashes, and under
# callgrind the defaults would take a minute.
FAST_HASHING = {
    "AUTHARA_PASSWORD_HASH_TIME_COST": "2",
    "AUTHARA_PASSWORD_HASH_MEMORY_KIB": "19456",
    "AUTHARA_PASSWORD_HASH_PARALLELISM": "1",
}


def tool(name: str) -> str:
    """Return the path of one of valgrind's commands (Debian package `valgrind`)."""
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"{name} not found: apt-get install valgrind")
    return path


def callgrind(out: Path, *command: str) -> list[str]:
    """Prefix a command so that it runs under callgrind with counting switched off."""
    return [
        tool("valgrind"),
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        *command,
    ]


def counting(pid: int, on: bool) -> None:
    """Switch callgrind's counting on or off in a running process."""
    subprocess.run(
        [tool("callgrind_control"), "-i", "on" if on else "off", str(pid)],
        check=True,
        capture_output=True,
    )


def instructions(out: Path) -> int:
    """Read the instruction count callgrind wrote when its process ended."""
    counts = [
        int(line.split()[1])
        for line in out.read_text().splitlines()
        if line.startswith(("summary:", "totals:"))
    ]
    if not counts or max(counts) == 0:
        raise SystemExit(f"callgrind counted nothing in {out}")
    return max(counts)


# --- processes measured under callgrind ---------------------------------------------------------


def floor_process(
    kind: str, dsn: str, schema: str, subject: str, count: int, organization: str = ""
) -> None:
    """Run WARMUP then `count` floor iterations, counting only the latter (under callgrind)."""

    async def main() -> None:
        pool = await asyncpg.create_pool(  # configured like core's pool
            dsn,
            min_size=1,
            max_size=1,
            server_settings={"search_path": schema},
            reset=release_connection,
        )
        if kind == "user":
            call = user_floor(pool, uuid.UUID(subject), uuid.UUID(organization))(0)
        else:
            call = refresh_floor(pool, [subject])(0)
        for _ in range(WARMUP):
            assert await call()
        counting(os.getpid(), on=True)
        for _ in range(count):
            await call()
        counting(os.getpid(), on=False)
        await pool.close()

    with asyncio.Runner(loop_factory=new_event_loop) as loop_runner:
        loop_runner.run(main())


def hello_process(port: int, body: str) -> None:
    """Serve `body` as JSON on GET /auth/api/v1/user: aiohttp's own cost per request."""
    payload = json.loads(body)

    async def user(_request: web.Request) -> web.Response:
        return web.json_response(payload)

    app = web.Application()
    app.router.add_get("/auth/api/v1/user", user)
    web.run_app(
        app, host="127.0.0.1", port=port, loop=new_event_loop(), access_log=None, print=None
    )


def lookup_process(port: int, dsn: str, schema: str, subject: str, organization: str) -> None:
    """aiohttp's low-level server doing only the lookup (core_bench's reference), one process."""
    serve_lookup(port, dsn, schema, subject, organization, pool_size=1, reuse_port=False)


# --- the run -------------------------------------------------------------------------------------


async def wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    """Poll a URL until it answers (callgrind makes start-up slow)."""
    async with aiohttp.ClientSession() as http:
        for _ in range(1200):
            if process.poll() is not None:
                raise SystemExit(f"{url}: the process exited with {process.returncode}")
            try:
                async with http.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.25)
    raise SystemExit(f"{url} did not answer")


async def count_http(
    out: Path,
    command: list[str],
    env: dict[str, str],
    health: str,
    prepare: Callable[[aiohttp.ClientSession], Awaitable[Callable[[], Awaitable[None]]]],
    requests: int,
) -> float:
    """Start a server under callgrind; return the instructions it spends per request."""
    process = subprocess.Popen(  # noqa: ASYNC220  (started once, before any measuring)
        callgrind(out, *command), env=env, stderr=subprocess.DEVNULL
    )
    try:
        await wait_for(health, process)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            call = await prepare(http)
            for _ in range(WARMUP):
                await call()
            counting(process.pid, on=True)
            for _ in range(requests):
                await call()
            counting(process.pid, on=False)
    finally:
        process.terminate()
        process.wait(timeout=120)
    return instructions(out) / requests


def count_floor(
    out: Path, kind: str, db: DatabaseSettings, subject: str, requests: int, *extra: str
) -> float:
    """Run a floor loop under callgrind; return the instructions per iteration."""
    subprocess.run(
        callgrind(
            out,
            sys.executable,
            str(SCRIPT),
            "--floor-process",
            kind,
            db.url(),
            db.schema,
            subject,
            str(requests),
            *extra,
        ),
        check=True,
        stderr=subprocess.DEVNULL,
    )
    return instructions(out) / requests


async def measure(db: DatabaseSettings, tmp: Path, requests: int) -> dict[str, float]:
    """Count every process once; return instructions per request by name."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**core_environment(db, port, workers=1), **FAST_HASHING}
    settings = load_settings(env)
    session: dict[str, Any] = {}

    async def user_calls(http: aiohttp.ClientSession) -> Callable[[], Awaitable[None]]:
        async with http.post(
            f"{base}/auth/api/v1/signup/direct",
            json={"email": "count@example.com", "password": PASSWORD},
            headers={"X-CSRF-Token": "c", "Cookie": "authara_csrf=c"},
        ) as response:
            session.update(await response.json())
        cookie = {"Cookie": f"authara_access={session['access_token']}"}

        async def call() -> None:
            async with http.get(f"{base}/auth/api/v1/user", headers=cookie) as response:
                session["user_body"] = await response.read()
                assert response.status == 200

        return call

    async def refresh_calls(http: aiohttp.ClientSession) -> Callable[[], Awaitable[None]]:
        token = {"value": await fresh_token(db, settings, session["user"]["id"])}

        async def call() -> None:
            async with http.post(
                f"{base}/auth/api/v1/tokens/refresh", json={"refresh_token": token["value"]}
            ) as response:
                body = await response.json()
                assert response.status == 200, body
                token["value"] = body["refresh_token"]

        return call

    core = [str(BIN / "python"), str(BIN / "authara-core")]
    results = {
        "GET /user": await count_http(
            tmp / "user.out", core, env, f"{base}/auth/health", user_calls, requests
        ),
        "POST /tokens/refresh": await count_http(
            tmp / "refresh.out", core, env, f"{base}/auth/health", refresh_calls, requests
        ),
    }
    organization = json.loads(session["user_body"])["organization"]["id"]
    results["  floor: asyncpg user lookup"] = await asyncio.to_thread(
        count_floor,
        tmp / "floor-user.out",
        "user",
        db,
        session["user"]["id"],
        requests,
        organization,
    )
    floor_token = await fresh_token(db, settings, session["user"]["id"])
    results["  floor: asyncpg rotation transaction"] = await asyncio.to_thread(
        count_floor, tmp / "floor-refresh.out", "refresh", db, floor_token, requests
    )
    results["  aiohttp alone: the same JSON, no database"] = await count_get(
        tmp / "hello.out", "--hello-process", [session["user_body"].decode()], {}, requests
    )
    results["  aiohttp low-level server + the same lookup"] = await count_get(
        tmp / "lookup.out",
        "--lookup-process",
        [db.url(), db.schema, session["user"]["id"], organization],
        {"Cookie": f"authara_access={session['access_token']}"},
        requests,
    )
    return results


async def count_get(
    out: Path, mode: str, args: list[str], headers: dict[str, str], requests: int
) -> float:
    """Run this script as one of its reference servers on a free port; count GET /user."""
    port = free_port()
    command = [sys.executable, str(SCRIPT), mode, str(port), *args]
    url = f"http://127.0.0.1:{port}/auth/api/v1/user"

    async def calls(http: aiohttp.ClientSession) -> Callable[[], Awaitable[None]]:
        async def call() -> None:
            async with http.get(url, headers=headers) as response:
                assert response.status == 200
                await response.read()

        return call

    return await count_http(out, command, dict(os.environ), url, calls, requests)


async def fresh_token(db: DatabaseSettings, settings: Any, user_id: str) -> str:
    """Start a session directly in the database and return its refresh token."""
    database = Database(db, pool_size=1)
    await database.open()
    try:
        sessions = SessionService(db=database, clock=SystemClock(), settings=settings.tokens)
        async with database.transaction() as conn:
            user = await user_store.get_user(conn, uuid.UUID(user_id))
            assert user is not None
            issued = await sessions.start_in(conn, user, audience=Audience.APP, user_agent="c")
        return issued.refresh_token
    finally:
        await database.close()


def report(results: dict[str, float], requests: int) -> None:
    """Print instructions per request and the floor/app ratios."""
    print(f"\ninstructions per request, callgrind, {requests} sequential requests each\n")
    for name, count in results.items():
        print(f"{name:<46} {count:>12,.0f}")
    user = results["  floor: asyncpg user lookup"] / results["GET /user"]
    refresh = results["  floor: asyncpg rotation transaction"] / results["POST /tokens/refresh"]
    print(f"\n  user: floor/app {user:.2f}x    refresh: floor/app {refresh:.2f}x")


def main() -> None:
    """Run the measurement, or one of the processes it measures."""
    if len(sys.argv) > 1 and sys.argv[1] == "--floor-process":
        kind, dsn, schema, subject, count, *organization = sys.argv[2:]
        floor_process(kind, dsn, schema, subject, int(count), *organization)
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--lookup-process":
        port, dsn, schema, subject, organization = sys.argv[2:7]
        lookup_process(int(port), dsn, schema, subject, organization)
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--hello-process":
        hello_process(int(sys.argv[2]), sys.argv[3])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000, help="counted requests per process")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="authara-callgrind-") as tmp,
        bench_database(Path(tmp)) as db,
    ):
        results = asyncio.run(measure(db, Path(tmp), args.requests))
    report(results, args.requests)


if __name__ == "__main__":
    main()
