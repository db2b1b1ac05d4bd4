"""JWT claim names, audiences and platform roles (upstream contract §4)."""

from enum import StrEnum
from typing import Final

ISSUER: Final = "iss"
SUBJECT: Final = "sub"
AUDIENCE: Final = "aud"
ISSUED_AT: Final = "iat"
EXPIRES: Final = "exp"
SESSION_ID: Final = "sid"
ROLES: Final = "roles"

ALGORITHM: Final = "HS256"
REQUIRED_CLAIMS: Final = (ISSUER, SUBJECT, AUDIENCE, ISSUED_AT, EXPIRES, SESSION_ID)


class Audience(StrEnum):
    """Token audiences: `admin` only for holders of a platform role."""

    APP = "app"
    ADMIN = "admin"


class PlatformRole(StrEnum):
    """Namespaced platform roles carried in the `roles` claim."""

    ADMIN = "authara:admin"
    AUDITOR = "authara:auditor"
    MONITOR = "authara:monitor"


ROLE_PREFIX: Final = "authara:"
