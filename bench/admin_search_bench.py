"""The admin console's user search on a million users, against a plain indexed lookup.

    .venv/bin/python bench/admin_search_bench.py [--users 1000000] [--rounds 5] [--calls 50]
    .venv/bin/python bench/admin_search_bench.py --url postgresql://postgres@127.0.0.1/postgres

Starts an embedded PostgreSQL (or creates a database on the server `--url` names, dropped
afterwards), migrates it, seeds it with bench/seed_users.py, then times
`authara_core.admin.store.search_users` (the query behind /auth/admin/users?q=, one page of
25 plus one) for several kinds of search term next to the floor: `SELECT id, email FROM users
WHERE email = $1`, the plain indexed lookup a search can never beat. Each round runs every
term and the floor `--calls` times on one connection, in an order rotated per round; the
report shows per term the median latency over rounds and its ratio to the floor's median.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

import seed_users
from authara_contract.database import DatabaseSettings
from authara_core.admin.store import search_users
from authara_devstack.embedded_pg import EmbeddedPostgres, free_port
from authara_migrations import runner

PAGE = 26  # the console shows 25 and asks for one more


@contextlib.contextmanager
def database(url: str | None, folder: Path) -> Iterator[DatabaseSettings]:
    """Yield a fresh migrated database on `url`'s server, or on an embedded one."""
    server = None
    if url is None:
        server = EmbeddedPostgres(folder, free_port())
        server.start()
        url = server.url()
    name = f"authara_search_bench_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    info = psycopg.conninfo.conninfo_to_dict(url)
    db = DatabaseSettings(
        host=str(info.get("host", "127.0.0.1")),
        port=int(info.get("port", 5432)),
        database=name,
        username=str(info.get("user", "postgres")),
        password=str(info.get("password", "")),
    )
    try:
        runner.upgrade(db)
        yield db
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if server is not None:
            server.stop()


async def _time(call: Callable[[], Awaitable[object]], calls: int) -> float:
    """Return the median seconds of `calls` awaited calls."""
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


async def measure(db: DatabaseSettings, rounds: int, calls: int) -> dict[str, list[float]]:
    """Time every search term and the floor; return seconds per round for each."""
    conn = await asyncpg.connect(
        db.url(), server_settings={"search_path": db.schema}, statement_cache_size=100
    )
    try:
        sample = await conn.fetchrow(
            "SELECT id, email, username_normalized FROM users ORDER BY id LIMIT 1 OFFSET 123456 % "
            "(SELECT count(*) FROM users)"
        )
        assert sample is not None
        email, username, user_id = sample["email"], sample["username_normalized"], sample["id"]
        terms = {
            "whole email": email,
            "email prefix, 6 chars": email[:6],
            "email prefix, 3 chars": email[:3],
            "username prefix": username[: len(username) - 2],
            "id prefix, 8 hex": str(user_id)[:8],
            "no match": "zzzz-nobody",
        }
        cases: dict[str, Callable[[], Awaitable[object]]] = {
            name: (lambda term=term: search_users(conn, term, limit=PAGE, offset=0))
            for name, term in terms.items()
        }
        cases["page 3 of 'email prefix, 3 chars'"] = lambda: search_users(
            conn, email[:3], limit=PAGE, offset=2 * (PAGE - 1)
        )
        floor = "floor: SELECT ... WHERE email = $1"
        cases[floor] = lambda: conn.fetchrow("SELECT id, email FROM users WHERE email = $1", email)
        for call in cases.values():  # warm the caches and the prepared statements
            for _ in range(6):
                await call()
        results: dict[str, list[float]] = {name: [] for name in cases}
        names = list(cases)
        for round_no in range(rounds):
            order = names[round_no % len(names) :] + names[: round_no % len(names)]
            for name in order:
                results[name].append(await _time(cases[name], calls))
        return results
    finally:
        await conn.close()


def report(results: dict[str, list[float]], users: int, seed_seconds: float) -> None:
    """Print medians and ratios to the floor."""
    floor = next(name for name in results if name.startswith("floor"))
    floor_median = statistics.median(results[floor])
    print(f"\nadmin user search on {users:,} users (seeded in {seed_seconds:.0f} s)")
    print(f"{'case':<40} {'median ms':>10} {'vs floor':>9}")
    for name, samples in results.items():
        median = statistics.median(samples)
        print(f"{name:<40} {median * 1000:>10.3f} {median / floor_median:>8.1f}x")


def main() -> None:
    """Seed, measure, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a PostgreSQL server to use instead of an embedded one")
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="authara-search-bench-") as folder,
        database(args.url, Path(folder)) as db,
    ):
        seed_seconds = seed_users.seed(db.url(), args.users, schema=db.schema)
        results = asyncio.run(measure(db, args.rounds, args.calls))
    report(results, args.users, seed_seconds)


if __name__ == "__main__":
    main()
