"""The challenge mails' composers: a fresh code is made right before each mail goes out.

The mail worker runs a composer inside the transaction that claims the job, so the code
stored (as an HMAC) commits with the job's "sent" mark, and a mail for a challenge that was
verified, expired or locked in the meantime is dropped instead of sent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from authara_contract.tokens import KeySet
from authara_core.challenges import codes, store
from authara_core.challenges.service import TEMPLATES, Purpose
from authara_core.mail.outbox import Composer, EmailJob, MailTemplate
from authara_core.platform.db import Connection
from authara_core.settings import ChallengeSettings

_PURPOSES: Final = {template: purpose for purpose, template in TEMPLATES.items()}


class CodeComposer:
    """Make, store and hand over the code of one challenge mail."""

    def __init__(
        self,
        purpose: Purpose,
        *,
        keys: KeySet,
        settings: ChallengeSettings,
        new_code: Callable[[], str] = codes.new_code,
    ) -> None:
        self._purpose = purpose
        self._keys = keys
        self._code_ttl = settings.code_ttl
        self._new_code = new_code

    async def __call__(
        self, conn: Connection, job: EmailJob, now: datetime
    ) -> Mapping[str, Any] | None:
        """Return {"code", "expires_in_minutes"}, or None when the challenge takes no code."""
        if job.challenge_id is None:
            return None
        challenge = await store.lock_challenge(conn, job.challenge_id)
        if (
            challenge is None
            or challenge.opaque
            or challenge.purpose != self._purpose.value
            or challenge.consumed_at is not None
            or challenge.expires_at <= now
            or challenge.attempt_count >= challenge.max_attempts
        ):
            return None
        code = self._new_code()
        expires_at = min(now + self._code_ttl, challenge.expires_at)
        await store.put_code(
            conn,
            challenge.id,
            code_hash=codes.code_hash(self._keys.active_key, challenge.id, code),
            key_id=self._keys.active_kid,
            expires_at=expires_at,
            now=now,
        )
        await store.mark_sent(conn, challenge.id, now)
        minutes = max(1, math.ceil((expires_at - now).total_seconds() / 60))
        return {"code": code, "expires_in_minutes": minutes}


def composers(
    *, keys: KeySet, settings: ChallengeSettings, new_code: Callable[[], str] = codes.new_code
) -> Mapping[MailTemplate, Composer]:
    """Return the composer of each challenge mail, for the mail worker."""
    return {
        template: CodeComposer(purpose, keys=keys, settings=settings, new_code=new_code)
        for template, purpose in _PURPOSES.items()
    }
