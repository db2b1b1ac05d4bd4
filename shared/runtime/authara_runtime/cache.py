"""The optional Redis connection core and the gateway share (`AUTHARA_CACHE_PROVIDER=redis`).

Settings are read once; the client is built without I/O (redis-py connects on first use and
reconnects by itself after Redis comes back), so a process starts even while Redis is down
and each use decides what a failure means (see docs/operations.md).
"""

from dataclasses import dataclass, field
from typing import Final

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from authara_contract.env import EnvReader

PROVIDERS: Final = ("noop", "redis")
# Every command is bounded: a stalled Redis costs a request this much (plus the connect
# timeout when a new connection is needed), never a hang.
SOCKET_TIMEOUT: Final = 0.5
CONNECT_TIMEOUT: Final = 1.0


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """Where the shared Redis is."""

    host: str
    port: int
    password: str | None = field(repr=False)  # a secret: kept out of logs
    db: int = 0

    def client(self) -> "Redis":
        """Build a client (no connection is opened until the first command)."""
        return Redis(
            host=self.host,
            port=self.port,
            password=self.password,
            db=self.db,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=CONNECT_TIMEOUT,
            health_check_interval=15,
            # One attempt per command: redis-py's default retries stretch a stalled Redis to
            # ~10 s per command; callers fall back at once instead (their policy).
            retry=Retry(NoBackoff(), retries=0),
        )

    @property
    def address(self) -> str:
        """Return `host:port/db` for log lines (never the password)."""
        return f"{self.host}:{self.port}/{self.db}"


def read_cache_settings(reader: EnvReader) -> RedisSettings | None:
    """Read AUTHARA_CACHE_PROVIDER and AUTHARA_REDIS_*; None for the `noop` provider."""
    provider = reader.choice("AUTHARA_CACHE_PROVIDER", PROVIDERS)
    host = reader.string("AUTHARA_REDIS_HOST", allow_empty=True)
    port = reader.integer("AUTHARA_REDIS_PORT", minimum=1, maximum=65535)
    password = reader.raw("AUTHARA_REDIS_PASSWORD") or None
    db = reader.integer("AUTHARA_REDIS_DB", minimum=0)
    if provider != "redis":
        return None
    if not host:
        reader.fail("AUTHARA_REDIS_HOST", "must not be empty when AUTHARA_CACHE_PROVIDER=redis")
    return RedisSettings(host=host, port=port, password=password, db=db)
