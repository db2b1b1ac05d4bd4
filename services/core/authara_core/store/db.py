"""The connection pool and the transaction boundary services use.

Every wait on PostgreSQL has a deadline: taking a connection from the pool (opening one
included) and each statement. A connection whose statement missed its deadline, or whose
server went away, is discarded at once and the caller gets DatabaseUnavailable (503). Waiting
for it to settle would mean waiting for the server: asyncpg cancels the statement with a
CancelRequest, and both that and the ROLLBACK before reuse hang while the server is stalled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from authara_contract.database import DatabaseSettings
from authara_core.errors import DatabaseUnavailable

# Store functions accept a pooled connection or a plain one (tests, scripts).
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
# Single-statement reads also accept Database.single (it checks a connection out per call).
Executor: TypeAlias = "Connection | SingleStatement"
Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"

# How a stalled or unreachable server shows itself (TimeoutError is an OSError).
UNAVAILABLE: Final = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)


class Database:
    """Owns the pool; hands services connections, inside a transaction when they ask."""

    def __init__(
        self,
        settings: DatabaseSettings,
        *,
        pool_size: int,
        timezone: str = "UTC",
        acquire_timeout_s: float = 5.0,
        statement_timeout_s: float = 5.0,
    ) -> None:
        self._settings = settings
        self._pool_size = pool_size
        self._timezone = timezone
        self._acquire_timeout_s = acquire_timeout_s
        self._statement_timeout_s = statement_timeout_s
        self._pool: Pool | None = None
        self._single = SingleStatement(self)
        self._checked_out = 0

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
            timeout=self._acquire_timeout_s,  # connecting, here and whenever the pool reconnects
            command_timeout=self._statement_timeout_s,
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
        async with self.connection() as conn:
            transaction = conn.transaction()
            await transaction.start()
            try:
                yield conn
            except (*UNAVAILABLE, asyncio.CancelledError):
                raise  # no ROLLBACK: connection() discards the connection, which ends it
            except BaseException:
                await transaction.rollback()
                raise
            await transaction.commit()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """Yield a connection for several reads outside a transaction."""
        pool = self.pool
        conn = await self._acquire(pool)
        try:
            yield conn
        except UNAVAILABLE as exc:
            conn.terminate()
            raise DatabaseUnavailable from exc
        except asyncio.CancelledError:
            conn.terminate()  # its statement may still run: do not wait for the server to stop it
            raise
        finally:
            try:
                await pool.release(conn)
            finally:
                self._checked_out -= 1

    @property
    def single(self) -> SingleStatement:
        """Run one autocommit statement on whichever connection is free (the hot read path)."""
        return self._single

    async def _acquire(self, pool: Pool) -> PoolConnectionProxy[asyncpg.Record]:
        # Counted before waiting, so that below the pool size a connection holder is surely
        # queued: acquire then waits only to open a connection, which has its own deadline
        # (create_pool's timeout). A timer, a few microseconds a request, arms only when the
        # pool may be exhausted; asyncio.timeout because acquire(timeout=) spawns a task.
        self._checked_out += 1
        try:
            if self._checked_out <= self._pool_size:
                return await pool.acquire()
            async with asyncio.timeout(self._acquire_timeout_s):
                return await pool.acquire()
        except UNAVAILABLE as exc:
            self._checked_out -= 1
            raise DatabaseUnavailable from exc
        except BaseException:
            self._checked_out -= 1
            raise


class SingleStatement:
    """One autocommit statement on a pooled connection, within the database's deadlines."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def fetchrow(self, query: str, *args: object) -> asyncpg.Record | None:
        """Return the first row the statement yields, if any."""
        async with self._database.connection() as conn:
            return await conn.fetchrow(query, *args)


async def release_connection(conn: Connection) -> None:
    """Return a connection to the pool without asyncpg's default reset round trip.

    Core never changes session state (no SET, LISTEN, cursors or advisory locks; search_path
    and timezone are startup parameters), so the default `RESET ALL; ...` query would only
    cost a round trip per request. An unfinished transaction is still rolled back.
    """
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")
