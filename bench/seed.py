"""Fill a migrated Authara database like a large installation: users, sessions, refresh tokens.

    .venv/bin/python bench/seed.py postgresql://postgres@127.0.0.1/big            # 1M/3M/10M
    .venv/bin/python bench/seed.py postgresql://postgres@127.0.0.1/big --scale 0.1

At `--scale 1`: 1M users (each with a password sign-in method, one in ten also with a Google
identity, one in a hundred disabled), their personal organizations and owner memberships, and
with `--teams` a team organization per 50 users that 10 of them belong to; 3M sessions (one
third expired, created up to a year ago; a tenth of the live ones revoked; user agents and IPs
of a few shapes) and 10M refresh tokens (every session's chain: the newest one current, the
older ones consumed with a successor hash, as rotation leaves them). Every row satisfies the
schema's constraints and foreign keys: a session's active organization is one its user belongs
to, a token never outlives its session.

Rows are made in Python and streamed with COPY (psycopg's `cursor.copy`), table by table in
foreign-key order, with the per-row foreign-key triggers off when connected as a superuser
(`session_replication_role = replica`; `--check-keys` keeps them). Ids are a fixed
permutation of the row number (random-looking, so the indexes see the insertion order a live
system gives them, and the same on every run). Every user's password is PASSWORD, hashed
once with core's default argon2id parameters, so a bench can sign in as `user_email(i)` for
any i. `ANALYZE` runs at the end.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import argon2
import psycopg

PASSWORD: Final = "correct horse battery staple"  # noqa: S105  (every seeded account's)
ARGON2: Final = {"time_cost": 3, "memory_cost": 65536, "parallelism": 4}  # core's defaults
SESSION_TTL: Final = timedelta(days=60)  # core's defaults
REFRESH_TTL: Final = timedelta(days=14)
FIRST: Final = ("ada", "grace", "alan", "edsger", "barbara", "donald", "linus", "guido", "radia")
LAST: Final = ("lovelace", "hopper", "turing", "dijkstra", "liskov", "knuth", "torvalds", "perlman")
DOMAINS: Final = ("example.org", "example.com", "mail.test", "corp.test", "uni.test")
AGENTS: Final = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Version/17.4 Safari",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "okhttp/4.12.0",
)
TEAM_EVERY: Final = 50  # with --teams: one team organization per this many users ...
TEAM_SIZE: Final = 10  # ... that this many of them belong to
CHUNK: Final = 1 << 20  # bytes per COPY write
_MASK: Final = (1 << 128) - 1
_MULTIPLIER: Final = 0x9E3779B97F4A7C15F39CC0605CEDC835  # odd: i -> i*M mod 2^128 is a bijection


@dataclass(frozen=True)
class Shape:
    """How many rows of each kind."""

    users: int
    sessions: int
    tokens: int
    teams: bool = False

    @classmethod
    def scaled(cls, scale: float, *, teams: bool = False) -> Shape:
        """1M users, 3M sessions and 10M refresh tokens at scale 1."""
        return cls(
            int(1_000_000 * scale), int(3_000_000 * scale), int(10_000_000 * scale), teams=teams
        )


def row_id(kind: int, i: int) -> str:
    """A stable, random-looking UUID (32 hex digits) for row `i` of table `kind`."""
    return f"{((i + 1 + (kind << 64)) * _MULTIPLIER) & _MASK:032x}"


def user_email(i: int) -> str:
    """The email of seeded user `i` (0-based)."""
    first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
    return f"{first}.{last}{i}@{DOMAINS[i % len(DOMAINS)]}"


USER, PROVIDER, ORG, SESSION, TOKEN, TEAM = range(6)


class Times:
    """Timestamps as COPY text, at one-minute resolution, memoised (formatting is the cost)."""

    def __init__(self, now: datetime) -> None:
        self._now = now.replace(second=0, microsecond=0)
        self._cache: dict[int, str] = {}

    def ago(self, minutes: int) -> str:
        """`now` minus `minutes` (negative: in the future)."""
        text = self._cache.get(minutes)
        if text is None:
            text = (self._now - timedelta(minutes=minutes)).isoformat()
            self._cache[minutes] = text
        return text


def _copy(
    conn: psycopg.Connection, table: str, columns: str, lines: Iterator[str]
) -> tuple[int, float]:
    started = time.perf_counter()
    count = 0
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        buffer: list[str] = []
        size = 0
        for line in lines:
            buffer.append(line)
            size += len(line)
            count += 1
            if size >= CHUNK:
                copy.write("".join(buffer))
                buffer, size = [], 0
        if buffer:
            copy.write("".join(buffer))
    return count, time.perf_counter() - started


YEAR_MIN: Final = 525_600
SESSION_MIN: Final = int(SESSION_TTL.total_seconds() // 60)
REFRESH_MIN: Final = int(REFRESH_TTL.total_seconds() // 60)


def _users(shape: Shape, times: Times) -> Iterator[str]:
    for i in range(shape.users):
        at = times.ago(i % YEAR_MIN)
        email = user_email(i)
        name = email.split("@", 1)[0].replace(".", "_")
        disabled = times.ago(max(i % YEAR_MIN - 1440, 0)) if i % 100 == 99 else r"\N"
        yield f"{row_id(USER, i)}\t{at}\t{at}\t{name}\t{name}\t{email}\t{disabled}\n"


def _providers(shape: Shape, times: Times, password_hash: str) -> Iterator[str]:
    for i in range(shape.users):
        at = times.ago(i % YEAR_MIN)
        user = row_id(USER, i)
        yield f"{row_id(PROVIDER, 2 * i)}\t{at}\t{at}\t{user}\tpassword\t\\N\t{password_hash}\n"
        if i % 10 == 3:
            subject = f"1{i:020d}"
            yield f"{row_id(PROVIDER, 2 * i + 1)}\t{at}\t{at}\t{user}\tgoogle\t{subject}\t\\N\n"


def _organizations(shape: Shape, times: Times) -> Iterator[str]:
    for i in range(shape.users):
        at = times.ago(i % YEAR_MIN)
        name = user_email(i).split("@", 1)[0]
        yield f"{row_id(ORG, i)}\t{at}\t{at}\t{name}\tpersonal\t{row_id(USER, i)}\n"
    if shape.teams:
        for t in range(shape.users // TEAM_EVERY):
            at = times.ago((t * TEAM_EVERY) % YEAR_MIN)
            creator = row_id(USER, t * TEAM_EVERY)
            yield f"{row_id(TEAM, t)}\t{at}\t{at}\tTeam {t}\tteam\t{creator}\n"


def _memberships(shape: Shape, times: Times) -> Iterator[str]:
    for i in range(shape.users):
        at = times.ago(i % YEAR_MIN)
        yield f"{row_id(ORG, i)}\t{row_id(USER, i)}\towner\t{at}\t{at}\n"
    if shape.teams:
        for t in range(shape.users // TEAM_EVERY):
            at = times.ago((t * TEAM_EVERY) % YEAR_MIN)
            for k in range(TEAM_SIZE):
                role = "owner" if k == 0 else ("admin" if k == 1 else "member")
                user = row_id(USER, t * TEAM_EVERY + k)
                yield f"{row_id(TEAM, t)}\t{user}\t{role}\t{at}\t{at}\n"


def session_user(shape: Shape, j: int) -> int:
    """The user (index) session `j` belongs to: every user gets sessions/users of them."""
    return j % shape.users


def _session_times(shape: Shape, j: int) -> tuple[int, int]:
    """(created, expires) of session `j`, in minutes ago: the first third expired."""
    if j % 3 == 0:  # expired: started 60 days to a year ago
        created = SESSION_MIN + 1 + (j * 7919) % (YEAR_MIN - SESSION_MIN)
    else:  # live: started within its lifetime
        created = 1 + (j * 7919) % (SESSION_MIN - 1)
    return created, created - SESSION_MIN


def _sessions(shape: Shape, times: Times) -> Iterator[str]:
    for j in range(shape.sessions):
        created, expires = _session_times(shape, j)
        used = max(created - j % 4000, expires, 0)
        revoked = times.ago(used) if j % 3 != 0 and j % 10 == 1 else r"\N"
        user = session_user(shape, j)
        org = row_id(ORG, user)
        ip = f"10.{j % 251}.{(j // 251) % 251}.{j % 7 + 1}" if j % 5 else f"2001:db8::{j % 65536:x}"
        yield (
            f"{row_id(SESSION, j)}\t{times.ago(created)}\t{times.ago(used)}\t{row_id(USER, user)}"
            f"\t{times.ago(expires)}\t{revoked}\t{AGENTS[j % len(AGENTS)]}\t{org}"
            f"\t{times.ago(used)}\t{ip}\n"
        )


def _tokens(shape: Shape, times: Times, rng: random.Random) -> Iterator[str]:
    per_session, extra = divmod(shape.tokens, shape.sessions) if shape.sessions else (0, 0)
    for k in range(shape.tokens):
        j, rank = k % shape.sessions, k // shape.sessions
        chain = per_session + (1 if j < extra else 0)
        created, expires = _session_times(shape, j)
        # The chain's tokens are spread over the session's life so far, oldest first.
        span = max(created - max(expires, 0), 1)
        issued = created - (span * rank) // max(chain, 1)
        token_expires = max(expires, issued - REFRESH_MIN)
        token_hash = f"{rng.getrandbits(256):064x}"
        if rank < chain - 1:  # rotated away: consumed, with its successor's hash
            consumed = times.ago(issued - 1)
            successor = f"{rng.getrandbits(256):064x}"
        else:
            consumed = successor = r"\N"
        yield (
            f"{row_id(TOKEN, k)}\t{times.ago(issued)}\t{row_id(SESSION, j)}\t{token_hash}"
            f"\t{times.ago(token_expires)}\t{consumed}\t{successor}\n"
        )


def password_hash() -> str:
    """PASSWORD hashed like core does by default (a login does not rehash it)."""
    return str(argon2.PasswordHasher(**ARGON2, type=argon2.Type.ID).hash(PASSWORD))


def seed(
    url: str,
    shape: Shape,
    *,
    schema: str = "authara",
    now: datetime | None = None,
    report: Callable[[str], None] = print,
    fast: bool = True,
) -> float:
    """Fill `schema` of the migrated, empty database at `url`; return the seconds it took."""
    started = time.perf_counter()
    times = Times(now or datetime.now(UTC))
    rng = random.Random(17)  # benchmark data, not secrets
    tables: list[tuple[str, str, Iterator[str]]] = [
        (
            "users",
            "id, created_at, updated_at, username, username_normalized, email, disabled_at",
            _users(shape, times),
        ),
        (
            "auth_providers",
            "id, created_at, updated_at, user_id, provider, provider_user_id, password_hash",
            _providers(shape, times, password_hash()),
        ),
        (
            "organizations",
            "id, created_at, updated_at, name, kind, created_by_user_id",
            _organizations(shape, times),
        ),
        (
            "organization_memberships",
            "organization_id, user_id, role, created_at, updated_at",
            _memberships(shape, times),
        ),
        (
            "sessions",
            "id, created_at, updated_at, user_id, expires_at, revoked_at, user_agent,"
            " active_organization_id, last_used_at, ip_address",
            _sessions(shape, times),
        ),
        (
            "refresh_tokens",
            "id, created_at, session_id, token_hash, expires_at, consumed_at, successor_hash",
            _tokens(shape, times, rng),
        ),
    ]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {schema}")  # a fixed identifier, not input
        conn.execute("SET synchronous_commit TO off")
        if fast:
            # The rows satisfy every foreign key by construction: skip the per-row checks
            # (triggers) when the role may (a superuser); otherwise keep them.
            try:
                conn.execute("SET session_replication_role = replica")
                report("  foreign-key triggers off for the load (session_replication_role)")
            except psycopg.errors.InsufficientPrivilege:
                report("  foreign-key checks on (not a superuser)")
        for table, columns, lines in tables:
            count, seconds = _copy(conn, table, columns, lines)
            report(f"  {table}: {count} rows in {seconds:.1f} s")
        analyze = time.perf_counter()
        conn.execute("ANALYZE")
        report(f"  ANALYZE in {time.perf_counter() - analyze:.1f} s")
    return time.perf_counter() - started


def expired_sessions(shape: Shape) -> int:
    """How many of the seeded sessions are past their expiry."""
    return (shape.sessions + 2) // 3


def main() -> None:
    """Seed the database named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="a migrated, empty database")
    parser.add_argument("--scale", type=float, default=1.0, help="1: 1M/3M/10M rows")
    parser.add_argument("--teams", action="store_true", help="team organizations too")
    parser.add_argument("--schema", default="authara")
    parser.add_argument("--check-keys", action="store_true", help="keep foreign-key checks on")
    args = parser.parse_args()
    shape = Shape.scaled(args.scale, teams=args.teams)
    print(f"seeding {shape}")
    seconds = seed(args.url, shape, schema=args.schema, fast=not args.check_keys)
    print(f"seeded in {seconds:.1f} s")


if __name__ == "__main__":
    main()
