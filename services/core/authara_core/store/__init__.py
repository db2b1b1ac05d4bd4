"""SQL per table group over asyncpg: connections are parameters, commits belong to callers."""
