"""Seed a migrated Authara database with many users, for the admin search bench.

    .venv/bin/python bench/seed_users.py postgresql://postgres@127.0.0.1/bench [--users 1000000]

The rows are made by PostgreSQL itself (one `INSERT ... SELECT` over `generate_series`, in
batches), so a million users take seconds, not minutes. Emails and usernames look like real
ones and share prefixes the way real ones do (`ada.lovelace123@example.org`: 40 first names,
40 last names, 10 domains), ids are random UUIDs, sign-up times spread over the last year and
one user in a hundred is disabled. `ANALYZE` runs at the end so the planner knows the table.
Only the `users` table is filled: the admin search reads nothing else.
"""

from __future__ import annotations

import argparse
import time
from typing import Final

import psycopg

FIRST: Final = [
    "ada",
    "grace",
    "alan",
    "edsger",
    "barbara",
    "donald",
    "frances",
    "margaret",
    "ken",
    "dennis",
    "linus",
    "guido",
    "radia",
    "john",
    "katherine",
    "annie",
    "hedy",
    "karen",
    "sophie",
    "joan",
    "lynn",
    "ruth",
    "jean",
    "mary",
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
]
LAST: Final = [
    "lovelace",
    "hopper",
    "turing",
    "dijkstra",
    "liskov",
    "knuth",
    "allen",
    "hamilton",
    "thompson",
    "ritchie",
    "torvalds",
    "rossum",
    "perlman",
    "mccarthy",
    "johnson",
    "easley",
    "lamarr",
    "jones",
    "wilson",
    "clarke",
    "sammet",
    "sinclair",
    "bartik",
    "smith",
    "adams",
    "baker",
    "clark",
    "davis",
    "evans",
    "fisher",
    "green",
    "hall",
    "irwin",
    "jackson",
    "king",
    "lewis",
    "moore",
    "nelson",
    "owen",
    "parker",
]
DOMAINS: Final = [
    "example.org",
    "example.com",
    "mail.test",
    "corp.test",
    "acme.test",
    "uni.test",
    "web.test",
    "post.test",
    "inbox.test",
    "home.test",
]
BATCH: Final = 100_000

_INSERT: Final = """
INSERT INTO users (id, created_at, updated_at, username, username_normalized, email, disabled_at)
SELECT gen_random_uuid(), at, at, name, lower(name), email,
       CASE WHEN n %% 100 = 0 THEN at + interval '1 day' END
FROM (
    SELECT n,
           now() - (n %% 525600) * interval '1 minute' AS at,
           f.first || '_' || l.last || n AS name,
           f.first || '.' || l.last || n || '@' || d.domain AS email
    FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS n
    CROSS JOIN LATERAL (SELECT (%(first)s::text[])[1 + n %% %(nfirst)s] AS first) AS f
    CROSS JOIN LATERAL (SELECT (%(last)s::text[])[1 + (n / %(nfirst)s) %% %(nlast)s] AS last) AS l
    CROSS JOIN LATERAL (SELECT (%(domains)s::text[])[1 + n %% %(ndomains)s] AS domain) AS d
) AS rows
"""


def seed(url: str, users: int, *, schema: str = "authara") -> float:
    """Insert `users` rows into `schema`.users of the database at `url`; return the seconds."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {schema}")  # a fixed identifier, not input
        (existing,) = conn.execute("SELECT count(*) FROM users").fetchone() or (0,)
        for start in range(existing + 1, existing + users + 1, BATCH):
            stop = min(start + BATCH - 1, existing + users)
            conn.execute(
                _INSERT,
                {
                    "start": start,
                    "stop": stop,
                    "first": FIRST,
                    "last": LAST,
                    "domains": DOMAINS,
                    "nfirst": len(FIRST),
                    "nlast": len(LAST),
                    "ndomains": len(DOMAINS),
                },
            )
        conn.execute("ANALYZE users")
    return time.perf_counter() - started


def main() -> None:
    """Seed the database named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="a migrated database, e.g. postgresql://postgres@127.0.0.1/x")
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--schema", default="authara")
    args = parser.parse_args()
    seconds = seed(args.url, args.users, schema=args.schema)
    print(f"seeded {args.users} users in {seconds:.1f} s")


if __name__ == "__main__":
    main()
