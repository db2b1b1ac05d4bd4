"""The schema as SQLAlchemy Core tables: the source alembic migrates from.

Tables carry no schema name: the migrations run with `search_path` set to POSTGRESQL_SCHEMA,
exactly as core's connections do. Constraint names are stable because core maps unique
violations to domain errors by name.
"""

from typing import Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    cast,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TIMESTAMP, UUID

NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

_NOW = text("now()")


def _id() -> Column[object]:
    return Column(
        "id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )


def _ts(name: str, *, nullable: bool = False, now_default: bool = True) -> Column[object]:
    return Column(
        name,
        TIMESTAMP(timezone=True),
        nullable=nullable,
        server_default=_NOW if now_default and not nullable else None,
    )


def _fk(name: str, target: str, *, nullable: bool = False) -> Column[object]:
    return Column(
        name, UUID(as_uuid=True), ForeignKey(target, ondelete="CASCADE"), nullable=nullable
    )


users = Table(
    "users",
    metadata,
    _id(),
    _ts("created_at"),
    _ts("updated_at"),
    Column("username", Text, nullable=False),
    Column("username_normalized", Text, nullable=False),
    Column("email", Text, nullable=False),
    _ts("disabled_at", nullable=True),
    UniqueConstraint("email"),
    UniqueConstraint("username"),
    UniqueConstraint("username_normalized"),
    # The admin console's prefix search (revision 0010 says which predicates use them).
    Index(
        "ix_users_username_pattern",
        "username_normalized",
        postgresql_ops={"username_normalized": "text_pattern_ops"},
    ),
    Index(None, "created_at"),
)
Index(
    "ix_users_email_pattern",
    func.lower(users.c.email).label("email_lower"),
    postgresql_ops={"email_lower": "text_pattern_ops"},
)
Index(
    "ix_users_id_pattern",
    cast(users.c.id, Text).label("id_text"),
    postgresql_ops={"id_text": "text_pattern_ops"},
)

platform_roles = Table(
    "platform_roles",
    metadata,
    _id(),
    Column("name", Text, nullable=False),
    _ts("created_at"),
    UniqueConstraint("name"),
)

user_platform_roles = Table(
    "user_platform_roles",
    metadata,
    _fk("user_id", "users.id"),
    _fk("role_id", "platform_roles.id"),
    _ts("created_at"),
    PrimaryKeyConstraint("user_id", "role_id"),
)

auth_providers = Table(
    "auth_providers",
    metadata,
    _id(),
    _ts("created_at"),
    _ts("updated_at"),
    _fk("user_id", "users.id"),
    Column("provider", String(50), nullable=False),
    Column("provider_user_id", Text, nullable=True),
    Column("password_hash", Text, nullable=True),
    UniqueConstraint("user_id", "provider"),
    UniqueConstraint("provider", "provider_user_id"),
)

sessions = Table(
    "sessions",
    metadata,
    _id(),
    _ts("created_at"),
    _ts("updated_at"),
    _fk("user_id", "users.id"),
    _ts("expires_at", now_default=False),
    _ts("revoked_at", nullable=True),
    Column("user_agent", String(255), nullable=False, server_default=""),
    _ts("last_used_at", nullable=True),  # null: started before revision 0009 (use created_at)
    Column("ip_address", String(64), nullable=True),  # the client's, when the session started
    # With user_id it names a membership: one cannot be deleted while a session uses it.
    Column("active_organization_id", UUID(as_uuid=True), nullable=False),
    ForeignKeyConstraint(
        ["active_organization_id", "user_id"],
        ["organization_memberships.organization_id", "organization_memberships.user_id"],
    ),
    Index(None, "user_id"),
    Index(None, "expires_at"),
    Index(None, "active_organization_id", "user_id"),
)

ORGANIZATION_KINDS: Final = ("personal", "team")
MEMBERSHIP_ROLES: Final = ("owner", "admin", "member")
ORGANIZATION_MODES: Final = ("personal", "single", "multi")


def _one_of(column: str, values: tuple[str, ...], name: str) -> CheckConstraint:
    listed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({listed})", name=name)


organizations = Table(
    "organizations",
    metadata,
    _id(),
    _ts("created_at"),
    _ts("updated_at"),
    Column("name", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column(
        "created_by_user_id",
        UUID(as_uuid=True),
        ForeignKey("users.id", ondelete="SET NULL"),
        nullable=True,
    ),
    CheckConstraint("btrim(name) <> ''", name="name_not_blank"),
    _one_of("kind", ORGANIZATION_KINDS, "kind"),
    # Each user creates at most one personal organization.
    Index(
        "uq_organizations_personal_creator",
        "created_by_user_id",
        unique=True,
        postgresql_where=text("kind = 'personal'"),
    ),
)

organization_memberships = Table(
    "organization_memberships",
    metadata,
    _fk("organization_id", "organizations.id"),
    _fk("user_id", "users.id"),
    Column("role", String(16), nullable=False),
    _ts("created_at"),
    _ts("updated_at"),
    PrimaryKeyConstraint("organization_id", "user_id"),
    _one_of("role", MEMBERSHIP_ROLES, "role"),
    Index(None, "user_id"),
)

# One row (id 1): the mode the database was first served in; core refuses any other.
organization_mode = Table(
    "organization_mode",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    _ts("created_at"),
    _ts("updated_at"),
    Column("mode", String(16), nullable=False),
    CheckConstraint("id = 1", name="singleton"),
    _one_of("mode", ORGANIZATION_MODES, "mode"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    _id(),
    _ts("created_at"),
    _fk("session_id", "sessions.id"),
    Column("token_hash", String(64), nullable=False),
    _ts("expires_at", now_default=False),
    _ts("consumed_at", nullable=True),
    Column("successor_hash", String(64), nullable=True),
    UniqueConstraint("token_hash"),
    Index(None, "session_id"),
    Index(None, "expires_at"),
)

# An external identity waiting for its owner to prove they hold the account with its email
# (password or an already-linked provider) before it is linked: never linked silently.
provider_links = Table(
    "provider_links",
    metadata,
    _id(),
    _ts("created_at"),
    Column("token_hash", String(64), nullable=False),
    Column("binding_hash", String(64), nullable=False),
    _fk("user_id", "users.id"),
    Column("provider", String(50), nullable=False),
    Column("provider_user_id", Text, nullable=False),
    Column("provider_email", Text, nullable=False),
    Column("return_to", Text, nullable=False),
    _ts("expires_at", now_default=False),
    _ts("consumed_at", nullable=True),
    UniqueConstraint("token_hash"),
    Index(None, "expires_at"),
)

# One OAuth redirect flow (or one used ID-token nonce): single-use, consumed compare-and-set.
oauth_states = Table(
    "oauth_states",
    metadata,
    _id(),
    _ts("created_at"),
    Column("state_hash", String(64), nullable=False),
    Column("binding_hash", String(64), nullable=False),
    Column("provider", String(50), nullable=False),
    Column("purpose", String(16), nullable=False),
    _fk("user_id", "users.id", nullable=True),
    _fk("session_id", "sessions.id", nullable=True),
    _fk("provider_link_id", "provider_links.id", nullable=True),
    Column("return_to", Text, nullable=False),
    _ts("expires_at", now_default=False),
    _ts("consumed_at", nullable=True),
    UniqueConstraint("state_hash"),
    Index(None, "expires_at"),
    # Deleting a session or a pending link cascades here (revision 0011).
    Index(None, "session_id"),
    Index(None, "provider_link_id"),
)

WEBHOOK_EVENT_STATUSES: Final = ("pending", "processing", "delivered", "failed")

# The webhook outbox: one row per event, written in the transaction of the change it reports.
# `payload` is the whole envelope ({"id", "type", "created_at", "data"}); `id` is its id.
webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", String(64), primary_key=True),
    _ts("created_at"),
    _ts("updated_at"),
    Column("event_type", String(100), nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempt_count", Integer, nullable=False, server_default=text("0")),
    _ts("next_attempt_at"),
    _ts("processing_started_at", nullable=True),
    Column("last_error", Text, nullable=True),
    _ts("delivered_at", nullable=True),
    _one_of("status", WEBHOOK_EVENT_STATUSES, "status"),
    Index(
        "ix_webhook_events_pending",
        "next_attempt_at",
        "created_at",
        postgresql_where=text("status = 'pending'"),
    ),
    Index(
        "ix_webhook_events_processing",
        "processing_started_at",
        postgresql_where=text("status = 'processing'"),
    ),
    Index(
        "ix_webhook_events_terminal",
        "status",
        "updated_at",
        postgresql_where=text("status IN ('delivered', 'failed')"),
    ),
)

INVITATION_ROLES: Final = ("admin", "member")


def _user_ref(name: str) -> Column[object]:
    return Column(
        name, UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )


# An invitation to join an organization; only the SHA-256 hex of its token is stored. At most
# one active (neither accepted nor revoked) invitation per organization and email.
organization_invitations = Table(
    "organization_invitations",
    metadata,
    _id(),
    _ts("created_at"),
    _ts("updated_at"),
    _fk("organization_id", "organizations.id"),
    Column("email", Text, nullable=False),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False),
    _user_ref("invited_by_user_id"),
    _ts("expires_at", now_default=False),
    _ts("accepted_at", nullable=True),
    _user_ref("accepted_by_user_id"),
    _ts("revoked_at", nullable=True),
    _user_ref("revoked_by_user_id"),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    UniqueConstraint("token_hash"),
    _one_of("role", INVITATION_ROLES, "role"),
    CheckConstraint("btrim(email) <> ''", name="email_not_blank"),
    CheckConstraint("accepted_at IS NULL OR revoked_at IS NULL", name="accepted_or_revoked"),
    CheckConstraint("jsonb_typeof(metadata) = 'object'", name="metadata_object"),
    Index(None, "organization_id"),
    Index(
        "uq_organization_invitations_active_email",
        text("organization_id"),
        text("lower(email)"),
        unique=True,
        postgresql_where=text("accepted_at IS NULL AND revoked_at IS NULL"),
    ),
)

CHALLENGE_PURPOSES: Final = ("signup", "password_reset", "email_change")
EMAIL_JOB_STATUSES: Final = ("pending", "processing", "sent", "failed")

# An email challenge (signup verification, password reset, email change). Opaque ones (for
# unknown or taken emails) never get a code, so they can never verify.
challenges = Table(
    "challenges",
    metadata,
    _id(),
    _ts("created_at"),
    _ts("updated_at"),
    Column("purpose", String(32), nullable=False),
    Column("email", Text, nullable=False),
    _fk("user_id", "users.id", nullable=True),
    Column("opaque", Boolean, nullable=False, server_default=text("false")),
    _ts("expires_at", now_default=False),
    _ts("consumed_at", nullable=True),
    Column("attempt_count", Integer, nullable=False, server_default=text("0")),
    Column("max_attempts", Integer, nullable=False, server_default=text("5")),
    Column("resend_count", Integer, nullable=False, server_default=text("0")),
    Column("max_resends", Integer, nullable=False, server_default=text("3")),
    _ts("last_sent_at", nullable=True),
    _one_of("purpose", CHALLENGE_PURPOSES, "purpose"),
    Index(None, "expires_at"),
    Index("ix_challenges_email", text("lower(email)")),
    Index(None, "user_id"),
)

# A challenge's live code: HMAC-SHA256 hex under the JWT key `key_id`, replaced by a resend.
verification_codes = Table(
    "verification_codes",
    metadata,
    _id(),
    _ts("created_at"),
    _fk("challenge_id", "challenges.id"),
    Column("code_hash", String(64), nullable=False),
    Column("key_id", String(128), nullable=False),
    _ts("expires_at", now_default=False),
    UniqueConstraint("challenge_id"),
)


def _challenge_child(name: str, *columns: Column[object]) -> Table:
    return Table(
        name,
        metadata,
        _id(),
        _ts("created_at"),
        _fk("challenge_id", "challenges.id"),
        *columns,
        UniqueConstraint("challenge_id"),
    )


# What a verified challenge applies: a signup, a new password (hashed up front), a new email.
pending_signup_actions = _challenge_child(
    "pending_signup_actions",
    Column("email", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column(
        "invitation_id",
        UUID(as_uuid=True),
        ForeignKey(
            "organization_invitations.id",
            ondelete="CASCADE",
            name="fk_pending_signup_actions_invitation_id",
        ),
        nullable=True,
    ),
)
pending_password_resets = _challenge_child(
    "pending_password_resets",
    _fk("user_id", "users.id"),
    Column("password_hash", Text, nullable=False),
)
pending_email_changes = _challenge_child(
    "pending_email_changes",
    _fk("user_id", "users.id"),
    Column("old_email", Text, nullable=False),
    Column("new_email", Text, nullable=False),
)

# The transactional email outbox: a row per mail, written in the transaction that needs it.
email_jobs = Table(
    "email_jobs",
    metadata,
    _id(),
    _ts("created_at"),
    _ts("updated_at"),
    _fk("challenge_id", "challenges.id", nullable=True),
    Column("to_email", Text, nullable=False),
    Column("template", String(64), nullable=False),
    Column("template_data", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempt_count", Integer, nullable=False, server_default=text("0")),
    _ts("next_attempt_at"),
    _ts("processing_started_at", nullable=True),
    Column("last_error", Text, nullable=True),
    _ts("sent_at", nullable=True),
    _one_of("status", EMAIL_JOB_STATUSES, "status"),
    CheckConstraint("jsonb_typeof(template_data) = 'object'", name="template_data_object"),
    Index(
        "ix_email_jobs_pending",
        "next_attempt_at",
        "created_at",
        postgresql_where=text("status = 'pending'"),
    ),
    Index(
        "ix_email_jobs_processing",
        "processing_started_at",
        postgresql_where=text("status = 'processing'"),
    ),
    Index(
        "ix_email_jobs_terminal",
        "status",
        "updated_at",
        postgresql_where=text("status IN ('sent', 'failed')"),
    ),
    Index("ix_email_jobs_to_email", text("lower(to_email)")),
    Index(None, "challenge_id"),  # deleting a challenge cascades here (revision 0011)
)

# The access policy's allowlist (AUTHARA_ACCESS_POLICY_ALLOWLIST_ENABLED): trimmed, lowercased.
allowed_emails = Table(
    "allowed_emails",
    metadata,
    _id(),
    _ts("created_at"),
    _ts("updated_at"),
    Column("email", Text, nullable=False),
    UniqueConstraint("email"),
    CheckConstraint("email = lower(btrim(email)) AND email <> ''", name="email_normalized"),
    Index("ix_allowed_emails_email_pattern", "email", postgresql_ops={"email": "text_pattern_ops"}),
)

# Who did what to whom in the admin console (and the CLI: actor_label 'cli').
admin_audit_events = Table(
    "admin_audit_events",
    metadata,
    _id(),
    _ts("created_at"),
    _user_ref("actor_user_id"),
    Column("actor_label", Text, nullable=True),
    Column("action", String(64), nullable=False),
    _user_ref("target_user_id"),
    Column("target_email", Text, nullable=True),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("ip", String(64), nullable=True),
    Column("user_agent", String(512), nullable=True),
    Column("request_id", String(128), nullable=True),
    CheckConstraint("jsonb_typeof(metadata) = 'object'", name="metadata_object"),
    Index(None, "created_at", "id"),
    Index(None, "actor_user_id", "created_at"),
    Index(None, "target_user_id", "created_at"),
    Index(None, "action", "created_at"),
)

WEBAUTHN_PURPOSES: Final = ("registration", "authentication")

# A passkey (WebAuthn credential) of a user: what verifying its assertions needs, its flags and
# a name its owner can change. `clone_warning`: its signature counter went backwards once.
passkeys = Table(
    "passkeys",
    metadata,
    _id(),
    _ts("created_at"),
    _ts("updated_at"),
    _fk("user_id", "users.id"),
    Column("credential_id", LargeBinary, nullable=False),
    Column("public_key", LargeBinary, nullable=False),
    Column("sign_count", BigInteger, nullable=False, server_default=text("0")),
    Column("transports", ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")),
    Column("aaguid", String(36), nullable=False),
    Column("attestation_format", String(32), nullable=False),
    Column("user_verified", Boolean, nullable=False),
    Column("backup_eligible", Boolean, nullable=False),
    Column("backup_state", Boolean, nullable=False),
    Column("clone_warning", Boolean, nullable=False, server_default=text("false")),
    Column("name", String(100), nullable=False, server_default=text("'Passkey'")),
    _ts("last_used_at", nullable=True),
    UniqueConstraint("credential_id"),
    CheckConstraint("btrim(name) <> ''", name="name_not_blank"),
    Index(None, "user_id"),
)

# A WebAuthn ceremony's challenge: single use (consumed_at set by compare-and-set), short-lived.
# Registration challenges belong to the signed-in user; authentication ones to nobody yet.
webauthn_challenges = Table(
    "webauthn_challenges",
    metadata,
    _id(),
    _ts("created_at"),
    _fk("user_id", "users.id", nullable=True),
    Column("purpose", String(16), nullable=False),
    Column("challenge", LargeBinary, nullable=False),
    _ts("expires_at", now_default=False),
    _ts("consumed_at", nullable=True),
    _one_of("purpose", WEBAUTHN_PURPOSES, "purpose"),
    Index(None, "expires_at"),
    Index(None, "user_id"),
)

PLATFORM_ROLE_NAMES: Final = ("admin", "auditor", "monitor")
