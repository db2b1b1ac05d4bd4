"""The connection pool and the transaction boundary services use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from authara_contract.database import DatabaseSettings

# Store functions accept a pooled connection or a plain one (tests, scripts).
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
# Single-statement reads also accept the pool itself (it acquires and releases around the call).
Executor: TypeAlias = "Connection | asyncpg.Pool[asyncpg.Record]"
Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"


class Database:
    """Owns the pool; hands services connections, inside a transaction when they ask."""

    def __init__(
        self, settings: DatabaseSettings, *, pool_size: int, timezone: str = "UTC"
    ) -> None:
        self._settings = settings
        self._pool_size = pool_size
        self._timezone = timezone
        self._pool: Pool | None = None

    async def open(self) -> None:
        """Open the pool; its connections use Authara's schema and UTC."""
        self._pool = await asyncpg.create_pool(
            host=self._settings.host,
            port=self._settings.port,
            user=self._settings.username,
            password=self._settings.password or None,
            database=self._settings.database,
            min_size=min(2, self._pool_size),
            max_size=self._pool_size,
            reset=release_connection,
            server_settings={
                "search_path": '"' + self._settings.schema.replace('"', '""') + '"',
                "timezone": self._timezone,
                "application_name": "authara-core",
            },
        )

    async def close(self) -> None:
        """Close the pool, waiting for connections in use to be released."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @property
    def pool(self) -> Pool:
        """The open pool."""
        if self._pool is None:
            raise RuntimeError("the database pool is not open")
        return self._pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """Yield a connection in a transaction committed on normal exit."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """Yield a connection for several reads outside a transaction."""
        async with self.pool.acquire() as conn:
            yield conn

    @property
    def single(self) -> Executor:
        """Run one autocommit statement on whichever connection is free (the hot read path)."""
        return self.pool


async def release_connection(conn: Connection) -> None:
    """Return a connection to the pool without asyncpg's default reset round trip.

    Core never changes session state (no SET, LISTEN, cursors or advisory locks; search_path
    and timezone are startup parameters), so the default `RESET ALL; ...` query would only
    cost a round trip per request. An unfinished transaction is still rolled back.
    """
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")
