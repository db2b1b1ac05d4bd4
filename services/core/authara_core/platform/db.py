"""The connection pool and the transaction boundary services use.

Every wait on PostgreSQL has a deadline: taking a connection from the pool (opening one
included) and each statement. A connection whose statement missed its deadline, or whose
server went away, is discarded at once and the caller gets DatabaseUnavailable (503). Waiting
for it to settle would mean waiting for the server: asyncpg cancels the statement with a
CancelRequest, and both that and the ROLLBACK before reuse hang while the server is stalled.

Behind PgBouncer in transaction pooling mode (`pgbouncer=True`) a server connection belongs to
the client only for one transaction, so nothing may outlive one: asyncpg's prepared-statement
cache is off (its unnamed statements are parsed and run within one transaction), every
checkout and single statement runs in a transaction, and the schema is set per transaction
with `SET LOCAL search_path` (PgBouncer refuses a `search_path` startup parameter).
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from types import TracebackType
from typing import Final, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from asyncpg.transaction import Transaction

from authara_contract.database import DatabaseSettings
from authara_core.platform.errors import DatabaseUnavailable

# Store functions accept a pooled connection or a plain one (tests, scripts).
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
# Single-statement reads also accept Database.single (it checks a connection out per call).
Executor: TypeAlias = "Connection | SingleStatement"
Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
Proxy: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"

# How a stalled or unreachable server shows itself (TimeoutError is an OSError).
UNAVAILABLE: Final = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)
# Errors after which a connection's state is unknown: it is closed rather than reused.
DISCARD: Final = (*UNAVAILABLE, asyncio.CancelledError)


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
        pgbouncer: bool = False,
    ) -> None:
        self._settings = settings
        self._pgbouncer = pgbouncer
        quoted = '"' + settings.schema.replace('"', '""') + '"'
        self._search_path = quoted
        # Sent inside each transaction behind PgBouncer (a simple query: no prepared statement).
        self.set_search_path = f"SET LOCAL search_path = {quoted}" if pgbouncer else None
        # A single statement needs no savepoints, so it opens its transaction itself.
        self.begin_single = f"BEGIN; {self.set_search_path}" if pgbouncer else None
        self._pool_size = pool_size
        self._timezone = timezone
        self._acquire_timeout_s = acquire_timeout_s
        self._statement_timeout_s = statement_timeout_s
        self._pool: Pool | None = None
        self._single = SingleStatement(self)
        self._checked_out = 0

    async def open(self) -> None:
        """Open the pool; its connections use Authara's schema and UTC."""
        try:
            self._pool = await self._create_pool()
        except TimeoutError as exc:
            raise DatabaseUnavailable(
                f"PostgreSQL did not answer within {self._acquire_timeout_s:g}s"
            ) from exc
        except ssl.SSLError as exc:
            # One line for the operator, e.g. a CA that did not sign the server's certificate.
            where = f"{self._settings.host}:{self._settings.port}"
            if isinstance(exc, ssl.SSLCertVerificationError):
                reason = f"certificate verify failed: {exc.verify_message}"
            else:
                reason = exc.reason or str(exc)
            raise DatabaseUnavailable(
                f"TLS to PostgreSQL at {where} failed "
                f"(POSTGRESQL_SSLMODE={self._settings.sslmode}): {reason}"
            ) from exc

    async def _create_pool(self) -> Pool:
        server_settings = {"timezone": self._timezone, "application_name": "authara-core"}
        if not self._pgbouncer:
            server_settings["search_path"] = self._search_path
        return await asyncpg.create_pool(
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
            ssl=self._settings.ssl_context() or False,  # None would mean libpq's `prefer`
            server_settings=server_settings,
            # Behind PgBouncer a named prepared statement would outlive its server connection
            # (100 is asyncpg's default).
            statement_cache_size=0 if self._pgbouncer else 100,
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

    def pool_stats(self) -> PoolStats:
        """Read the connections in use and idle, the pool's size and the waiting requests."""
        pool = self._pool
        if pool is None:
            return PoolStats(in_use=0, idle=0, max_size=self._pool_size, waiting=0)
        idle = pool.get_idle_size()
        in_use = pool.get_size() - idle
        return PoolStats(
            in_use=in_use,
            idle=idle,
            max_size=self._pool_size,
            waiting=max(0, self._checked_out - self._pool_size),
        )

    def transaction(self) -> Checkout:
        """Check a connection out in a transaction, committed when the block exits normally."""
        return Checkout(self, transactional=True)

    def snapshot(self) -> Checkout:
        """Check a connection out in a read-only REPEATABLE READ transaction.

        Several reads then see one consistent state of the database (a page's counts and rows).
        """
        return Checkout(self, transactional=True, snapshot=True)

    def connection(self) -> Checkout:
        """Check a connection out for several reads outside a transaction.

        Behind PgBouncer they run in one, or it could switch server connections between them.
        """
        return Checkout(self, transactional=self._pgbouncer)

    @property
    def single(self) -> SingleStatement:
        """Run one autocommit statement on whichever connection is free (the hot read path)."""
        return self._single

    async def check_out(self, pool: Pool) -> Proxy:
        """Take a connection from the pool within the acquire deadline."""
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

    async def check_in(self, pool: Pool, conn: Proxy, error: BaseException | None) -> None:
        """Give a connection back; after `error` discard it if its state is unknown.

        Raise DatabaseUnavailable from `error` when that says the server is unavailable.
        """
        try:
            if isinstance(error, DISCARD):
                # Its statement may still be running: do not wait for the server to stop it.
                conn.terminate()
            await pool.release(conn)
        finally:
            self._checked_out -= 1
        if isinstance(error, UNAVAILABLE):
            raise DatabaseUnavailable from error


@dataclass(frozen=True, slots=True)
class PoolStats:
    """A reading of the pool for the metrics."""

    in_use: int
    idle: int
    max_size: int
    waiting: int


class Checkout:
    """One `async with` block's pooled connection, in a transaction when asked for.

    A class rather than @asynccontextmanager: it runs for every request, and a generator-based
    manager costs thousands of instructions more each time.
    """

    __slots__ = ("_conn", "_database", "_pool", "_snapshot", "_transaction", "_transactional")

    def __init__(self, database: Database, *, transactional: bool, snapshot: bool = False) -> None:
        self._database = database
        self._transactional = transactional
        self._snapshot = snapshot
        self._transaction: Transaction | None = None

    async def __aenter__(self) -> Proxy:
        self._pool = pool = self._database.pool
        self._conn = conn = await self._database.check_out(pool)
        if self._transactional:
            transaction = (
                conn.transaction(isolation="repeatable_read", readonly=True)
                if self._snapshot
                else conn.transaction()
            )
            try:
                await transaction.start()
            except BaseException as exc:
                await self._database.check_in(pool, conn, exc)
                raise
            self._transaction = transaction
            if (set_search_path := self._database.set_search_path) is not None:
                try:
                    await conn.execute(set_search_path)
                except BaseException as exc:
                    await self.__aexit__(type(exc), exc, exc.__traceback__)
                    raise
        return conn

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        transaction = self._transaction
        try:
            # A connection about to be discarded needs no ROLLBACK: closing it ends the
            # transaction, and the ROLLBACK would wait for a server that may not answer.
            if transaction is not None and not isinstance(exc, DISCARD):
                if exc is None:
                    await transaction.commit()
                else:
                    await transaction.rollback()
        except BaseException as error:
            await self._database.check_in(self._pool, self._conn, error)
            raise
        await self._database.check_in(self._pool, self._conn, exc)


class SingleStatement:
    """One autocommit statement on a pooled connection, within the database's deadlines."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def fetchrow(self, query: str, *args: object) -> asyncpg.Record | None:
        """Return the first row the statement yields, if any."""
        database = self._database
        pool = database.pool
        conn = await database.check_out(pool)
        try:
            if (begin := database.begin_single) is not None:
                # Behind PgBouncer: pinned to one server connection by a transaction, opened
                # together with the schema setting in one round trip (a simple query).
                await conn.execute(begin)
                record = await conn.fetchrow(query, *args)
                await conn.execute("COMMIT")
            else:
                record = await conn.fetchrow(query, *args)
        except BaseException as exc:
            await database.check_in(pool, conn, exc)
            raise
        await database.check_in(pool, conn, None)
        return record


async def release_connection(conn: Connection) -> None:
    """Return a connection to the pool without asyncpg's default reset round trip.

    Core never changes session state (no SET, LISTEN, cursors or advisory locks; search_path
    and timezone are startup parameters), so the default `RESET ALL; ...` query would only
    cost a round trip per request. An unfinished transaction is still rolled back.
    """
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")
