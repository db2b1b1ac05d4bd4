"""argon2id hashing on a bounded thread pool, never on the event loop."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from authara_core.platform.errors import Overloaded

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class PasswordSettings:
    """argon2id parameters and the size of the hashing pool."""

    time_cost: int = 3
    memory_kib: int = 65536
    parallelism: int = 4
    workers: int = 2
    max_queue: int = 32


class PasswordHasher:
    """Hash and verify passwords; past the queue bound, refuse with Overloaded (503)."""

    def __init__(self, settings: PasswordSettings) -> None:
        self._argon2 = argon2.PasswordHasher(
            time_cost=settings.time_cost,
            memory_cost=settings.memory_kib,
            parallelism=settings.parallelism,
            hash_len=32,
            salt_len=16,
            type=argon2.Type.ID,
        )
        self._executor = ThreadPoolExecutor(
            max_workers=settings.workers, thread_name_prefix="argon2"
        )
        # Work in flight = running on a worker + waiting; each costs memory_kib while it runs.
        self._max_pending = settings.workers + settings.max_queue
        self._pending = 0
        self.rejections = 0  # refused with Overloaded, for the metrics
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        """Return the PHC-encoded argon2id hash of a password."""
        return await self._run(self._argon2.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """Tell whether the password matches the hash (False for a malformed hash)."""
        return await self._run(self._verify_sync, password_hash, password)

    async def burn(self, password: str) -> None:
        """Spend one verification's time for an unknown account (no timing oracle)."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(secrets.token_urlsafe(16))
        await self.verify(self._dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """Tell whether a stored hash uses other parameters than the configured ones."""
        try:
            return self._argon2.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    def close(self) -> None:
        """Stop the worker threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _verify_sync(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    @property
    def pending(self) -> int:
        """Hashes running or waiting for a worker thread."""
        return self._pending

    @property
    def capacity(self) -> int:
        """Hashes that may be in flight before the next one is refused."""
        return self._max_pending

    async def _run(self, func: Callable[..., _T], *args: str) -> _T:
        if self._pending >= self._max_pending:
            self.rejections += 1
            raise Overloaded
        self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, func, *args)
        finally:
            self._pending -= 1
