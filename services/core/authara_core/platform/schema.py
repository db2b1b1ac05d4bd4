"""The schema revision this build needs, and how to read the one a database is at."""

from typing import Final

from authara_core.platform.db import Connection

# Alembic revision core was written against; the migrations job's head must equal it.
REQUIRED_SCHEMA_REVISION: Final = "0012"
VERSION_TABLE: Final = "alembic_version"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


async def current_schema_revision(conn: Connection, schema: str) -> str | None:
    """Return the revision recorded in `<schema>.alembic_version`, or None if there is none."""
    table = f"{_quote(schema)}.{_quote(VERSION_TABLE)}"
    if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table) is not True:
        return None
    rows = await conn.fetch(f"SELECT version_num FROM {table} ORDER BY version_num")  # noqa: S608
    # Several rows mean unmerged branches: joined, they can never equal the required revision.
    return ",".join(str(row["version_num"]) for row in rows) or None
