"""Failures of a migration run, each with a one-line message fit for a terminal."""


class MigrationError(Exception):
    """A migration run failed; `str(exc)` is one line."""


class DatabaseUnreachable(MigrationError):
    """PostgreSQL refused, rejected or never answered the connection."""
