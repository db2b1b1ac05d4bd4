"""JWT claim names, audiences and platform roles (upstream contract §4)."""

from enum import StrEnum
from typing import Final

ISSUER: Final = "iss"
SUBJECT: Final = "sub"
AUDIENCE: Final = "aud"
ISSUED_AT: Final = "iat"
EXPIRES: Final = "exp"
SESSION_ID: Final = "sid"
ORGANIZATION_ID: Final = "org_id"
ORGANIZATION_ROLE: Final = "org_role"
ROLES: Final = "roles"

ALGORITHM: Final = "HS256"
REQUIRED_CLAIMS: Final = (
    ISSUER,
    SUBJECT,
    AUDIENCE,
    ISSUED_AT,
    EXPIRES,
    SESSION_ID,
    ORGANIZATION_ID,
    ORGANIZATION_ROLE,
)


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


class OrganizationRole(StrEnum):
    """A member's role in an organization, carried in the `org_role` claim."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class OrganizationMode(StrEnum):
    """AUTHARA_ORGANIZATION_MODE: what organizations users get and may join."""

    PERSONAL = "personal"
    SINGLE = "single"
    MULTI = "multi"
