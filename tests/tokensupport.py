"""Access tokens with a valid signature over whatever claims a test wants (hostile ones too)."""

import uuid

from authara_contract import claims
from authara_contract.claims import Audience
from authara_contract.tokens import KeySet


def sign_claims(keys: KeySet, issuer: str, now: int, **overrides: object) -> str:
    """Sign an app token's claims, issued at `now` for ten minutes, with some replaced."""
    payload: dict[str, object] = {
        claims.ISSUER: issuer,
        claims.SUBJECT: str(uuid.uuid4()),
        claims.AUDIENCE: [Audience.APP.value],
        claims.ISSUED_AT: now,
        claims.EXPIRES: now + 600,
        claims.SESSION_ID: str(uuid.uuid4()),
        claims.ORGANIZATION_ID: str(uuid.uuid4()),
        claims.ORGANIZATION_ROLE: "member",
        claims.ROLES: [],
        **overrides,
    }
    return keys.sign(payload)
