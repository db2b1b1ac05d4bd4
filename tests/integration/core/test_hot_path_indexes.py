"""Every query on a hot path is served by an index: EXPLAIN checked, on the real store functions.

Each case calls a store function with a connection that, instead of running a statement, asks
PostgreSQL for its plan (EXPLAIN without ANALYZE: nothing runs, nothing is written) with the
same parameters. With `enable_seqscan = off` the planner takes an index whenever one can serve
the query, so a sequential scan left in a plan means no index can: the test then names the
statement. Plans are those of the migrated schema (revision head), whatever the table sizes;
bench/bigdb_bench.py measures the same paths on 1M users, 3M sessions and 10M refresh tokens.

Foreign-key cascades run as triggers, which EXPLAIN does not show: the cleanups' cascades are
checked as the statements PostgreSQL runs for them, and a catalog check lists every foreign key
without an index, so a new one has to be indexed or named here with the reason.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg
import pytest

from authara_contract.database import DatabaseSettings
from authara_core.accounts import store as accounts
from authara_core.challenges import store as challenges
from authara_core.oauth import store as oauth
from authara_core.organizations import store as organizations
from authara_core.sessions import store as sessions

NOW: Final = datetime(2026, 12, 5, tzinfo=UTC)
A: Final = uuid.UUID(int=1)
B: Final = uuid.UUID(int=2)
HASH: Final = "0" * 64
# Tiny tables read whole by design: one row, or three.
SMALL_TABLES: Final = frozenset({"organization_mode", "platform_roles"})


class ExplainingConnection:
    """Stands in for a connection: records the plan of each statement instead of running it."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self.plans: list[tuple[str, dict[str, Any]]] = []

    async def _explain(self, query: str, args: tuple[object, ...]) -> None:
        text = await self._conn.fetchval(f"EXPLAIN (FORMAT JSON) {query}", *args)
        self.plans.append((" ".join(query.split()), json.loads(text)[0]["Plan"]))

    async def execute(self, query: str, *args: object) -> str:
        await self._explain(query, args)
        return "UPDATE 0"

    async def fetch(self, query: str, *args: object) -> list[object]:
        await self._explain(query, args)
        return []

    async def fetchrow(self, query: str, *args: object) -> None:
        await self._explain(query, args)

    async def fetchval(self, query: str, *args: object) -> None:
        await self._explain(query, args)


def _seq_scans(plan: dict[str, Any]) -> list[str]:
    found = [plan["Relation Name"]] if plan["Node Type"] == "Seq Scan" else []
    for child in plan.get("Plans", ()):
        found += _seq_scans(child)
    return [name for name in found if name not in SMALL_TABLES]


def _index_scans(plan: dict[str, Any]) -> list[str]:
    found = [plan["Index Name"]] if "Index Name" in plan else []
    for child in plan.get("Plans", ()):
        found += _index_scans(child)
    return found


Case = Callable[[Any], Awaitable[object]]

HOT_PATHS: Final[dict[str, Case]] = {
    # Login and signup
    "login by email": lambda c: accounts.get_password_login(c, "ada@example.com"),
    "user by email": lambda c: accounts.get_user_by_email(c, "ada@example.com"),
    "default membership": lambda c: organizations.get_default_membership(c, A),
    # GET /user and every authenticated API call
    "user by id": lambda c: accounts.get_user(c, A),
    "user with roles": lambda c: accounts.get_user_with_roles(c, A),
    "member with roles": lambda c: organizations.get_member_with_roles(c, A, B),
    "org membership": lambda c: organizations.get_membership(c, A, B),
    "lock membership": lambda c: organizations.lock_membership(c, A, B),
    # Refresh
    "refresh token lookup": lambda c: sessions.lock_refresh_token(c, HASH),
    "consume refresh token": lambda c: sessions.consume_refresh_token(
        c, token_id=A, successor_hash=HASH, now=NOW
    ),
    "current token": lambda c: sessions.is_current_token(c, HASH),
    "current token session": lambda c: sessions.current_token_session(c, HASH, NOW),
    "touch session": lambda c: sessions.touch_session(c, A, NOW, resolution=NOW - NOW),
    # Sessions: logout, the account page, organization switch
    "session by id": lambda c: sessions.lock_session(c, A),
    "live session": lambda c: sessions.is_live_session(c, user_id=A, session_id=B, now=NOW),
    "live session created at": lambda c: sessions.live_session_created_at(
        c, session_id=A, user_id=B, now=NOW
    ),
    "revoke by token": lambda c: sessions.revoke_session_by_token_hash(c, HASH, NOW),
    "revoke session": lambda c: sessions.revoke_session(c, A, NOW),
    "revoke own session": lambda c: sessions.revoke_own_session(
        c, user_id=A, session_id=B, now=NOW
    ),
    "revoke user sessions": lambda c: sessions.revoke_user_sessions(c, A, NOW),
    "live sessions": lambda c: sessions.live_sessions(c, A, NOW),
    "set active organization": lambda c: sessions.set_active_organization(c, A, B, NOW),
    # OAuth
    "oauth state": lambda c: oauth.consume_state(
        c, state_hash=HASH, binding_hash=HASH, provider="google", now=NOW
    ),
    "oauth identity owner": lambda c: oauth.find_identity_owner(c, "google", "sub"),
    "oauth session is live": lambda c: oauth.session_is_live(c, session_id=A, user_id=B, now=NOW),
    "oauth pending link": lambda c: oauth.get_pending_link(
        c, token_hash=HASH, binding_hash=HASH, now=NOW
    ),
    "oauth pending link by id": lambda c: oauth.get_pending_link_by_id(c, A, NOW),
    # Email challenges
    "challenge": lambda c: challenges.lock_challenge(c, A),
    "challenge user": lambda c: challenges.get_user_id(c, A),
    "challenge code": lambda c: challenges.get_code(c, A),
    "challenge consume": lambda c: challenges.consume(c, A, NOW),
    "challenge attempt": lambda c: challenges.count_attempt(c, A, NOW),
    "pending signup": lambda c: challenges.get_pending_signup(c, A),
    "pending reset": lambda c: challenges.get_pending_reset(c, A),
    # Cleanup jobs
    "cleanup sessions": lambda c: sessions.delete_expired_sessions(c, NOW, limit=1000),
    "cleanup oauth": lambda c: oauth.delete_expired(c, NOW),
    "cleanup challenges": lambda c: challenges.delete_expired(c, NOW),
}

# What PostgreSQL runs for each row a cleanup deletes (ri_triggers.c: `DELETE FROM ONLY <table>
# WHERE $1 = <column>`), for every cascading foreign key of the tables the cleanups delete from.
CASCADES: Final = {
    "session -> refresh tokens": "DELETE FROM ONLY refresh_tokens WHERE $1 = session_id",
    "session -> oauth states": "DELETE FROM ONLY oauth_states WHERE $1 = session_id",
    "pending link -> oauth states": "DELETE FROM ONLY oauth_states WHERE $1 = provider_link_id",
    "challenge -> codes": "DELETE FROM ONLY verification_codes WHERE $1 = challenge_id",
    "challenge -> email jobs": "DELETE FROM ONLY email_jobs WHERE $1 = challenge_id",
    "challenge -> pending signup": (
        "DELETE FROM ONLY pending_signup_actions WHERE $1 = challenge_id"
    ),
    "challenge -> pending reset": (
        "DELETE FROM ONLY pending_password_resets WHERE $1 = challenge_id"
    ),
    "challenge -> pending email change": (
        "DELETE FROM ONLY pending_email_changes WHERE $1 = challenge_id"
    ),
}

# Foreign keys with no index on their columns, each only used when an account, a role or an
# invitation is deleted (rare, one row at a time, and these tables hold few rows per user).
UNINDEXED_FOREIGN_KEYS: Final = frozenset(
    {
        "fk_user_platform_roles_role_id_platform_roles",  # three roles, never deleted
        "fk_provider_links_user_id_users",  # deleting an account
        "fk_oauth_states_user_id_users",
        "fk_pending_password_resets_user_id_users",
        "fk_pending_email_changes_user_id_users",
        "fk_organization_invitations_invited_by_user_id_users",  # SET NULL on account deletion
        "fk_organization_invitations_accepted_by_user_id_users",
        "fk_organization_invitations_revoked_by_user_id_users",
        "fk_pending_signup_actions_invitation_id",  # deleting an invitation's organization
    }
)


@pytest.fixture
async def conn(db: DatabaseSettings) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(
        db.url(), server_settings={"search_path": db.schema, "enable_seqscan": "off"}
    )
    yield connection
    await connection.close()


@pytest.mark.parametrize("name", sorted(HOT_PATHS))
async def test_hot_path_query_uses_an_index(conn: asyncpg.Connection, name: str) -> None:
    explaining = ExplainingConnection(conn)
    await HOT_PATHS[name](explaining)
    assert explaining.plans, "the store function ran no statement"
    for query, plan in explaining.plans:
        assert _seq_scans(plan) == [], f"{name}: sequential scan in {query}"
        assert _index_scans(plan), f"{name}: no index in {query}"


@pytest.mark.parametrize("name", sorted(CASCADES))
async def test_cleanup_cascade_uses_an_index(conn: asyncpg.Connection, name: str) -> None:
    plan = json.loads(await conn.fetchval(f"EXPLAIN (FORMAT JSON) {CASCADES[name]}", uuid.uuid4()))[
        0
    ]["Plan"]
    assert _seq_scans(plan) == []
    assert _index_scans(plan)


async def test_session_cleanup_walks_the_expiry_index(conn: asyncpg.Connection) -> None:
    explaining = ExplainingConnection(conn)
    await sessions.delete_expired_sessions(explaining, NOW, limit=1000)  # type: ignore[arg-type]
    [(_query, plan)] = explaining.plans
    assert "ix_sessions_expires_at" in _index_scans(plan)
    assert "pk_sessions" in _index_scans(plan)  # the batch's rows, deleted by primary key


async def test_only_the_listed_foreign_keys_lack_an_index(conn: asyncpg.Connection) -> None:
    rows = await conn.fetch(
        """
        SELECT c.conname FROM pg_constraint c
        WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace
          AND NOT EXISTS (
            SELECT 1 FROM pg_index i
            WHERE i.indrelid = c.conrelid
              AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
              AND c.conkey @> (i.indkey::int2[])[0:cardinality(c.conkey) - 1]
          )
        """
    )
    assert {r["conname"] for r in rows} == UNINDEXED_FOREIGN_KEYS
