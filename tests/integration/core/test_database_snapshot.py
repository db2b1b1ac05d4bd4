"""`Database.snapshot()`: one read-only, repeatable-read view for a page's several reads."""

from __future__ import annotations

import asyncpg
import pytest

from authara_contract.database import DatabaseSettings
from authara_core.platform.db import Database


async def test_a_snapshot_sees_one_state_and_refuses_writes(db: DatabaseSettings) -> None:
    database = Database(db, pool_size=2)
    await database.open()
    try:
        async with database.snapshot() as conn:
            assert await conn.fetchval("SHOW transaction_isolation") == "repeatable read"
            before = await conn.fetchval("SELECT count(*) FROM users")
            async with database.transaction() as other:  # a commit while the snapshot is open
                await other.execute(
                    "INSERT INTO users (username, username_normalized, email)"
                    " VALUES ('snap', 'snap', 'snap@example.com')"
                )
            assert await conn.fetchval("SELECT count(*) FROM users") == before
            with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
                await conn.execute("DELETE FROM users")
        async with database.transaction() as conn:  # an ordinary transaction is not read-only
            assert await conn.fetchval("SHOW transaction_read_only") == "off"
            assert await conn.fetchval("SELECT count(*) FROM users") == before + 1
    finally:
        await database.close()
