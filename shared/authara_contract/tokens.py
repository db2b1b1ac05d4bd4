"""Access-token codec shared by core (signs and verifies) and the gateway (verifies).

HS256 only, `kid` header selecting one of the configured keys, claims per `claims.py`.
`roles` is always emitted as a JSON array (upstream emits null; ARCHITECTURE §7.6) and
null is accepted when reading.
"""

import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Generic, TypeVar

import jwt
from jwt.algorithms import HMACAlgorithm
from jwt.types import Options
from jwt.utils import force_bytes

from . import claims
from .claims import Audience, OrganizationRole, PlatformRole

MIN_KEY_BYTES: Final = 32
V = TypeVar("V")


class InvalidAccessToken(Exception):
    """The token is malformed, expired, or not signed by a configured key."""


class KeyConfigError(ValueError):
    """AUTHARA_JWT_KEYS or the active key id is malformed."""


class _CheckedKeyHS256(HMACAlgorithm):
    """HS256 for keys PyJWT already checked once, when their KeySet was built.

    PyJWT checks on every signature that an HMAC secret is not a PEM, SSH or DER public key
    (parsing it as DER each time); for keys fixed at start-up that is done once instead.
    """

    def __init__(self) -> None:
        super().__init__(HMACAlgorithm.SHA256)

    def prepare_key(self, key: str | bytes) -> bytes:
        """Return the key as bytes (checked when the KeySet was built)."""
        return force_bytes(key)


@dataclass(frozen=True, slots=True)
class KeySet:
    """Signing keys by `kid`; tokens are signed with the active one and verified with any."""

    keys: Mapping[str, bytes]
    active_kid: str
    _signer: jwt.PyJWS = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.active_kid not in self.keys:
            raise KeyConfigError(f"active key id {self.active_kid!r} is not among the keys")
        checker = HMACAlgorithm(HMACAlgorithm.SHA256)
        for kid, key in self.keys.items():
            try:
                checker.prepare_key(key)
            except jwt.InvalidKeyError as exc:
                raise KeyConfigError(f"key {kid!r} is not usable as an HMAC secret: {exc}") from exc
        signer = jwt.PyJWS(algorithms=[claims.ALGORITHM])
        signer.unregister_algorithm(claims.ALGORITHM)
        signer.register_algorithm(claims.ALGORITHM, _CheckedKeyHS256())
        object.__setattr__(self, "_signer", signer)

    def sign(self, payload: Mapping[str, Any]) -> str:
        """Sign claims with the active key: the compact JWS with a `kid` header."""
        return self._signer.encode(
            json.dumps(payload, separators=(",", ":")).encode(),
            self.active_key,
            algorithm=claims.ALGORITHM,
            headers={"kid": self.active_kid},
        )

    @property
    def active_key(self) -> bytes:
        """Return the key new tokens are signed with."""
        return self.keys[self.active_kid]


def parse_jwt_keys(raw: str) -> dict[str, bytes]:
    """Parse `kid:base64secret,kid2:base64secret2`; every secret must decode to >= 32 bytes."""
    keys: dict[str, bytes] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        kid, sep, encoded = item.partition(":")
        kid = kid.strip()
        if not sep or not kid:
            raise KeyConfigError("each entry must look like kid:base64secret")
        if kid in keys:
            raise KeyConfigError(f"key id {kid!r} appears twice")
        try:
            secret = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise KeyConfigError(f"key {kid!r} is not valid standard base64") from exc
        if len(secret) < MIN_KEY_BYTES:
            raise KeyConfigError(
                f"key {kid!r} decodes to {len(secret)} bytes; at least {MIN_KEY_BYTES} are required"
            )
        keys[kid] = secret
    if not keys:
        raise KeyConfigError("at least one key is required")
    return keys


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The verified content of an access token."""

    issuer: str
    user_id: uuid.UUID
    session_id: uuid.UUID
    audience: tuple[str, ...]
    roles: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    organization_id: uuid.UUID
    organization_role: OrganizationRole


def encode_access_token(
    *,
    keys: KeySet,
    issuer: str,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    organization_id: uuid.UUID,
    organization_role: OrganizationRole,
    audience: Audience,
    roles: tuple[str, ...],
    now: datetime,
    ttl: timedelta,
) -> str:
    """Sign an access token with the active key."""
    issued = int(now.timestamp())
    payload = {
        claims.ISSUER: issuer,
        claims.SUBJECT: str(user_id),
        claims.AUDIENCE: [audience.value],
        claims.ISSUED_AT: issued,
        claims.EXPIRES: issued + int(ttl.total_seconds()),
        claims.SESSION_ID: str(session_id),
        claims.ORGANIZATION_ID: str(organization_id),
        claims.ORGANIZATION_ROLE: organization_role.value,
        claims.ROLES: list(roles),
    }
    return keys.sign(payload)


def decode_access_token(
    token: str,
    *,
    keys: KeySet,
    issuer: str,
    audiences: tuple[Audience, ...],
    now: datetime | None = None,
) -> AccessClaims:
    """Verify signature, kid, issuer, audience and expiry; raise InvalidAccessToken otherwise."""
    try:
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        if not isinstance(kid, str) or kid not in keys.keys:
            raise InvalidAccessToken("unknown key id")
        options: Options = {"require": list(claims.REQUIRED_CLAIMS)}
        if now is not None:  # the caller's clock decides expiry (tests, injected clocks)
            options["verify_exp"] = False
            options["verify_iat"] = False
        payload = jwt.decode(
            token,
            keys.keys[kid],
            algorithms=[claims.ALGORITHM],
            issuer=issuer,
            audience=[a.value for a in audiences],
            options=options,
        )
    except jwt.PyJWTError as exc:
        raise InvalidAccessToken(str(exc)) from exc
    return _claims_from_payload(payload, now)


def _claims_from_payload(payload: Mapping[str, Any], now: datetime | None) -> AccessClaims:
    try:
        user_id = uuid.UUID(str(payload[claims.SUBJECT]))
        session_id = uuid.UUID(str(payload[claims.SESSION_ID]))
        organization_id = uuid.UUID(str(payload[claims.ORGANIZATION_ID]))
        organization_role = OrganizationRole(payload[claims.ORGANIZATION_ROLE])
        issued_at = datetime.fromtimestamp(int(payload[claims.ISSUED_AT]), UTC)
        expires_at = datetime.fromtimestamp(int(payload[claims.EXPIRES]), UTC)
    except (ValueError, TypeError, OverflowError) as exc:
        # A validly signed `exp` or `iat` beyond what a datetime holds (e.g. 10**30) is as
        # invalid as a malformed one.
        raise InvalidAccessToken("malformed claims") from exc
    if 0 in (user_id.int, session_id.int, organization_id.int):
        raise InvalidAccessToken("nil subject, session or organization")
    if now is not None and expires_at <= now:
        raise InvalidAccessToken("expired")
    raw_aud = payload[claims.AUDIENCE]
    audience = (raw_aud,) if isinstance(raw_aud, str) else tuple(str(a) for a in raw_aud)
    raw_roles = payload.get(claims.ROLES) or []
    if not isinstance(raw_roles, list):
        raise InvalidAccessToken("roles must be an array")
    known = {role.value for role in PlatformRole}
    if any(role not in known for role in raw_roles):
        raise InvalidAccessToken("unknown role")
    return AccessClaims(
        issuer=str(payload[claims.ISSUER]),
        user_id=user_id,
        session_id=session_id,
        audience=audience,
        roles=tuple(raw_roles),
        issued_at=issued_at,
        expires_at=expires_at,
        organization_id=organization_id,
        organization_role=organization_role,
    )


class VerifiedTokenCache(Generic[V]):
    """What a verified token yielded (its claims, or something built from them), until `exp`.

    Keyed by the whole token string. Only tokens that verified enter, so garbage cannot
    evict real users, and an altered token is a different key. Bounded: past `max_entries`
    the oldest entry goes (a miss only costs one verification). Times are Unix seconds.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._max_entries = max_entries
        self._entries: dict[str, tuple[V, float]] = {}

    def get(self, token: str, now: float) -> V | None:
        """Return the cached value for a token that has not expired."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        if entry[1] <= now:
            del self._entries[token]
            return None
        return entry[0]

    def put(self, token: str, value: V, expires: float) -> None:
        """Remember a verified token's value until `expires`."""
        while len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]  # dicts keep insertion order
        self._entries[token] = (value, expires)

    def __len__(self) -> int:
        return len(self._entries)
