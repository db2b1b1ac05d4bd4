"""Domain errors, each with its public code, HTTP status and message.

AuthError
├── InvalidRequest            400 invalid_request
│   ├── InvalidEmail
│   ├── InvalidPassword
│   ├── EmailTaken
│   ├── AlreadyAllowed                (the email is on the allowlist already)
│   ├── PayloadTooLarge       413
│   ├── OAuthStateInvalid             (missing, unknown, reused or expired `state`)
│   ├── ProviderLinkInvalid           (unknown, used or expired provider link)
│   ├── ProviderAlreadyLinked 409     (identity or provider slot taken)
│   ├── LastSignInMethod      422
│   ├── PasskeySignInRefused  422     (the HTML route's words for PasskeySignInFailed)
│   ├── PasskeyNameInvalid    422
│   ├── AccountChangeRefused  422   (account self-service: nothing was changed)
│   │   ├── InvalidUsername
│   │   ├── UsernameTaken
│   │   ├── PasswordMismatch
│   │   ├── WrongCurrentPassword
│   │   ├── NoPassword
│   │   ├── PasswordExists
│   │   ├── SignInAgain               (no password confirms it and the sign-in is stale)
│   │   └── LastAdmin                 (the last active admin cannot be deleted)
│   ├── SessionNotFound       422     (not one of the caller's live sessions)
│   ├── ConsoleChangeRefused          (an admin console guard: yourself, the last admin,
│   │   └── LastActiveAdmin            an unconfirmed destructive action; nothing changed)
│   └── ChallengeRefused              (an email code that cannot verify; one message in the API,
│       ├── ChallengeUnknown           its own on the pages)
│       ├── ChallengeCodeWrong
│       ├── ChallengeCodeExpired
│       ├── ChallengeExpired
│       ├── ChallengeUsed
│       └── ChallengeLocked            (too many wrong codes)
├── Unauthorized              401 unauthorized
│   ├── InvalidCredentials
│   ├── RefreshTokenMissing
│   ├── InvalidRefreshToken
│   │   └── RefreshTokenReused
│   ├── ProviderAnswerInvalid         (token exchange refused, ID token fails a check)
│   └── PasskeySignInFailed           (any passkey assertion that does not verify)
├── Forbidden                 403 forbidden
│   ├── CsrfFailed
│   ├── ReauthenticationRequired      (PUT /users/password from a stale sign-in)
│   ├── AudienceNotAllowed
│   │   └── EmailNotAllowed           (not on the allowlist)
│   ├── EmailNotVerified
│   └── ProviderProofFailed
├── NotFound                  404 not_found
│   ├── ProviderNotFound
│   ├── UserNotFound                  404 user_not_found
│   ├── OrganizationNotFound          404 organization_not_found
│   ├── MembershipNotFound            404 membership_not_found
│   ├── InvitationNotFound            404 invitation_not_found
│   └── PasskeyNotFound               (not one of the caller's passkeys)
├── LastOwner                 409 last_owner
├── NotOwner                  409 not_owner
├── PersonalOrganization      409 personal_organization
├── ActorNotMember            403 actor_not_member
├── ActorNotAllowed           403 actor_not_allowed
├── InvitationConflict        409 (already_member, invitation_already_pending,
│                                  invitation_already_accepted, invitation_revoked,
│                                  invitation_expired: one subclass each)
├── InvitationUnusable                (an invitation link that cannot be used, pages and signup)
│   ├── InvitationLinkInvalid 400 invalid_request
│   ├── InvitationLinkUsed    409 invitation_already_accepted
│   ├── InvitationLinkExpired 410 invitation_expired
│   ├── InvitationLinkRevoked 410 invitation_revoked
│   ├── InvitationsDisabled   403 forbidden       (personal mode)
│   ├── InvitationNeedsNewAccount 403 forbidden   (single mode: existing accounts cannot accept)
│   ├── InvitationForOtherEmail   403 forbidden
│   ├── InvitationAlreadyMember   409 already_member
│   └── AlreadyInOrganization     409 already_member (single mode: one organization per user)
├── AccountLinkRequired       409 account_link_required
├── PasskeyAlreadyExists      409 passkey_already_exists
├── PasskeyRegistrationInvalid 422 passkey_registration_invalid
├── RateLimited               429 rate_limited
├── ProviderUnavailable       502 bad_gateway
│   └── ProviderTimeout       504 gateway_timeout
├── SchemaMismatch            (startup only)
├── OrganizationModeMismatch  (startup only)
└── Overloaded                503 service_unavailable
    ├── DatabaseUnavailable           (no connection or answer within the database deadlines)
    └── RevocationUnavailable         (Redis down: admin tokens cannot be checked, refused)

One hierarchy for every domain, here so the envelope's ErrorRenderer (platform/error_render.py),
the one place these become HTTP responses, maps any of them by `code` and `status` alone.
"""

import math
from typing import ClassVar

from authara_contract.errors import ErrorCode


class AuthError(Exception):
    """Base of every error a client may see."""

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL_ERROR
    status: ClassVar[int] = 500
    public_message: ClassVar[str] = "Something went wrong."
    html_message: ClassVar[str | None] = None  # when pages word it differently from the API

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.public_message
        super().__init__(self.message)


class InvalidRequest(AuthError):
    """The request is malformed or fails validation."""

    code = ErrorCode.INVALID_REQUEST
    status = 400
    public_message = "Invalid request."


class InvalidEmail(InvalidRequest):
    """The email address is not valid."""

    public_message = "Enter a valid email address."


class InvalidPassword(InvalidRequest):
    """The password breaks the length rule."""

    public_message = "Password must be between 8 and 128 characters."


class EmailTaken(InvalidRequest):
    """An account with this email already exists."""

    public_message = "An account with this email already exists."


class AlreadyAllowed(InvalidRequest):
    """The email is on the allowlist already."""

    public_message = "This email is already on the allowlist."


class PayloadTooLarge(InvalidRequest):
    """The request body exceeds the limit."""

    status = 413
    public_message = "Request body is too large."


class Unauthorized(AuthError):
    """No valid credentials were presented."""

    code = ErrorCode.UNAUTHORIZED
    status = 401
    public_message = "Unauthorized"


class InvalidCredentials(Unauthorized):
    """Email/password did not match (never says which)."""

    public_message = "Invalid email or password."


class RefreshTokenMissing(Unauthorized):
    """No refresh token was presented."""

    public_message = "Refresh token missing"


class InvalidRefreshToken(Unauthorized):
    """The refresh token is unknown, expired, or its session or user can no longer refresh."""

    public_message = "Invalid refresh token"


class RefreshTokenReused(InvalidRefreshToken):
    """A consumed refresh token came back outside the grace window; the session is revoked."""


class Forbidden(AuthError):
    """The caller may not do this."""

    code = ErrorCode.FORBIDDEN
    status = 403
    public_message = "Forbidden"


class ReauthenticationRequired(Forbidden):
    """A change no password confirms, from a session that signed in too long ago."""

    public_message = "Sign in again to change your password."


class CsrfFailed(Forbidden):
    """The CSRF double-submit check failed."""

    public_message = "CSRF validation failed"
    html_message = "Security check failed. Please refresh and try again."


class AudienceNotAllowed(Forbidden):
    """The account may not hold a token for the requested audience."""

    public_message = "Account cannot access requested audience."


class EmailNotAllowed(AudienceNotAllowed):
    """The email is not on the allowlist while the access policy is on."""

    public_message = "This email address is not allowed to sign up or sign in."


class NotFound(AuthError):
    """No such route or resource."""

    code = ErrorCode.NOT_FOUND
    status = 404
    public_message = "Not found"


class RateLimited(AuthError):
    """Too many attempts; `resets_in` says when the client may try again."""

    code = ErrorCode.RATE_LIMITED
    status = 429
    public_message = "Too many attempts. Please try again later."

    def __init__(self, message: str | None = None, *, resets_in: float = 60.0) -> None:
        super().__init__(
            message or f"Too many attempts. Please try again {wait_wording(resets_in)}."
        )
        self.resets_in = resets_in

    @property
    def retry_after_s(self) -> int:
        """Whole seconds for the Retry-After header (at least 1)."""
        return max(1, math.ceil(self.resets_in))


def wait_wording(seconds: float) -> str:
    """Say when a wait of `seconds` ends, rounded up: "in 56 minutes", "in 2 hours"."""
    whole = max(1, math.ceil(seconds))
    if whole < 60:
        amount, unit = whole, "second"
    elif whole < 2 * 3600:
        amount, unit = math.ceil(whole / 60), "minute"
    else:
        amount, unit = math.ceil(whole / 3600), "hour"
    return f"in {amount} {unit}{'' if amount == 1 else 's'}"


class Overloaded(AuthError):
    """Too much work is queued; the client should retry shortly."""

    code = ErrorCode.SERVICE_UNAVAILABLE
    status = 503
    public_message = "The server is busy. Please try again in a moment."
    retry_after_s: ClassVar[int] = 1


class DatabaseUnavailable(Overloaded):
    """PostgreSQL cannot be reached or did not answer within its deadline."""

    public_message = "The service is temporarily unavailable. Please try again in a moment."
    retry_after_s: ClassVar[int] = 5


class RevocationUnavailable(Overloaded):
    """Redis cannot say whether an admin-audience token was revoked: it is refused (fail closed)."""

    public_message = "The service is temporarily unavailable. Please try again in a moment."
    retry_after_s: ClassVar[int] = 5


class OAuthStateInvalid(InvalidRequest):
    """The OAuth callback's state is missing, unknown, used, expired or from another browser."""

    public_message = "This sign-in attempt is invalid or has expired. Please start again."


class ProviderLinkInvalid(InvalidRequest):
    """The pending provider link is unknown, used, expired or from another browser."""

    public_message = "This link request is invalid or has expired. Please sign in again."


class ProviderAlreadyLinked(InvalidRequest):
    """The external identity belongs to another account, or the slot is taken."""

    status = 409
    public_message = "That sign-in account is already linked to another Authara account."


class LastSignInMethod(InvalidRequest):
    """Removing this sign-in method would leave the account with none."""

    status = 422
    public_message = "You cannot remove your only way to sign in."


class PasskeySignInRefused(InvalidRequest):
    """A passkey sign-in that failed, as the browser pages' JSON route says it (upstream: 422)."""

    status = 422
    public_message = "Passkey sign-in failed."


class PasskeyNameInvalid(InvalidRequest):
    """A passkey name that is blank or too long."""

    status = 422
    public_message = "Give the passkey a name of 1 to 100 characters."


class AccountChangeRefused(InvalidRequest):
    """A change to one's own account was refused; nothing was changed."""

    status = 422
    public_message = "Nothing was changed."


class InvalidUsername(AccountChangeRefused):
    """The username breaks the rule (3 to 30 of A-Z, a-z, 0-9, _ and -)."""

    public_message = "That is not a valid username."


class UsernameTaken(AccountChangeRefused):
    """Another account has this username (in any case)."""

    public_message = "That username is taken."


class PasswordMismatch(AccountChangeRefused):
    """The new password and its confirmation differ."""

    public_message = "The passwords do not match. Nothing was changed."


class WrongCurrentPassword(AccountChangeRefused):
    """The current password given to confirm a change is wrong."""

    public_message = "Your current password is not correct. Nothing was changed."


class NoPassword(AccountChangeRefused):
    """A password change for an account without a password."""

    public_message = "Your account has no password yet: add one instead."


class PasswordExists(AccountChangeRefused):
    """Adding a password to an account that has one."""

    public_message = "Your account already has a password: change it instead."


class SignInAgain(AccountChangeRefused):
    """The change needs a recent sign-in and the session started too long ago."""

    public_message = "For your security, sign in again, then delete your account."


class LastAdmin(AccountChangeRefused):
    """Deleting the last active admin would leave nobody to administer the server."""

    public_message = (
        "This account is the last active admin and cannot be deleted. Nothing was changed."
    )


class ChallengeRefused(InvalidRequest):
    """An email code did not verify; the API never says why, the pages do."""

    public_message = "Invalid or expired verification code."
    html_message: ClassVar[str | None] = "That code did not work."


class ChallengeUnknown(ChallengeRefused):
    """No challenge of this kind has that id (malformed, unknown, or for another purpose)."""

    html_message = "This verification is not valid. Please start again."


class ChallengeCodeWrong(ChallengeRefused):
    """The code is not the one sent (counted as an attempt)."""

    html_message = "That code is not right. Check the email and try again."


class ChallengeCodeExpired(ChallengeRefused):
    """The code was right but is too old; a new one can be sent."""

    html_message = "This code has expired. Send a new code and try again."


class ChallengeExpired(ChallengeRefused):
    """The challenge's time is up."""

    html_message = "This verification has expired. Please start again."


class ChallengeUsed(ChallengeRefused):
    """The challenge was verified already."""

    html_message = "This code has already been used."


class ChallengeLocked(ChallengeRefused):
    """Too many wrong codes: the challenge takes none any more."""

    html_message = "Too many wrong codes. Please start again."


class ProviderAnswerInvalid(Unauthorized):
    """The provider refused the code, or its ID token or user data failed a check."""

    public_message = "The sign-in provider's answer could not be verified. Please try again."


class EmailNotVerified(Forbidden):
    """A new account needs an email address the provider has verified."""

    public_message = (
        "The sign-in provider has not verified your email address. Verify it there and retry."
    )


class ProviderProofFailed(Forbidden):
    """The identity used to prove account ownership is not linked to that account."""

    public_message = "That sign-in account is not linked to the account you are linking."


class ProviderNotFound(NotFound):
    """No sign-in provider of that name is configured."""

    public_message = "Unknown sign-in provider."


class ChallengesDisabled(NotFound):
    """Email challenges are off (AUTHARA_CHALLENGE_ENABLED=false)."""


class AccountLinkRequired(AuthError):
    """An account with the provider's email exists but is not linked to this identity."""

    code = ErrorCode.ACCOUNT_LINK_REQUIRED
    status = 409
    public_message = (
        "An account with this email already exists. Sign in to it and link the provider first."
    )


class ProviderUnavailable(AuthError):
    """The sign-in provider could not be reached or answered with an error."""

    code = ErrorCode.BAD_GATEWAY
    status = 502
    public_message = "The sign-in provider could not be reached. Please try again later."


class ProviderTimeout(ProviderUnavailable):
    """The sign-in provider did not answer within AUTHARA_OAUTH_HTTP_TIMEOUT."""

    code = ErrorCode.GATEWAY_TIMEOUT
    status = 504
    public_message = "The sign-in provider did not answer in time. Please try again later."


class SchemaMismatch(Exception):
    """The database is not at the schema revision this build requires."""


class OrganizationModeMismatch(Exception):
    """The database is pinned to another organization mode than the configured one."""


# Internal API (organizations and users): resource errors with their own codes.
class UserNotFound(NotFound):
    """No user has that id."""

    code = ErrorCode.USER_NOT_FOUND
    public_message = "User not found."


class OrganizationNotFound(NotFound):
    """No organization has that id."""

    code = ErrorCode.ORGANIZATION_NOT_FOUND
    public_message = "Organization not found."


class MembershipNotFound(NotFound):
    """The user is not a member of the organization."""

    code = ErrorCode.MEMBERSHIP_NOT_FOUND
    public_message = "The user is not a member of this organization."


class LastOwner(AuthError):
    """The change would leave an organization with members but no owner."""

    code = ErrorCode.LAST_OWNER
    status = 409
    public_message = "An organization must keep an owner. Transfer ownership first."


class NotOwner(AuthError):
    """Ownership can only be transferred by an owner."""

    code = ErrorCode.NOT_OWNER
    status = 409
    public_message = "The user transferring ownership is not an owner of this organization."


class PersonalOrganization(AuthError):
    """A personal organization lives and dies with its user."""

    code = ErrorCode.PERSONAL_ORGANIZATION
    status = 409
    public_message = "A personal organization is deleted only with its user."


class InvitationNotFound(NotFound):
    """No invitation of the organization has that id."""

    code = ErrorCode.INVITATION_NOT_FOUND
    public_message = "Invitation not found."


class ActorNotMember(AuthError):
    """The user acting for an invitation is not a member of the organization."""

    code = ErrorCode.ACTOR_NOT_MEMBER
    status = 403
    public_message = "The acting user is not a member of this organization."


class ActorNotAllowed(AuthError):
    """The user acting for an invitation may not invite (not owner or admin; personal mode)."""

    code = ErrorCode.ACTOR_NOT_ALLOWED
    status = 403
    public_message = "Only an owner or admin can invite to this organization."


class InvitationConflict(AuthError):
    """An invitation cannot be made or changed in its current state."""

    status = 409


class AlreadyMember(InvitationConflict):
    """The invited email already belongs to a member."""

    code = ErrorCode.ALREADY_MEMBER
    public_message = "A user with this email is already a member of this organization."


class InvitationAlreadyPending(InvitationConflict):
    """A pending invitation for this email exists already."""

    code = ErrorCode.INVITATION_ALREADY_PENDING
    public_message = "An invitation for this email is already pending."


class InvitationAlreadyAccepted(InvitationConflict):
    """The invitation was accepted."""

    code = ErrorCode.INVITATION_ALREADY_ACCEPTED
    public_message = "The invitation has already been accepted."


class InvitationRevoked(InvitationConflict):
    """The invitation was revoked."""

    code = ErrorCode.INVITATION_REVOKED
    public_message = "The invitation has been revoked."


class InvitationExpired(InvitationConflict):
    """The invitation expired."""

    code = ErrorCode.INVITATION_EXPIRED
    public_message = "The invitation has expired."


# Invitation links (the acceptance pages and invitation-code signup).
class InvitationUnusable(AuthError):
    """An invitation link cannot be used by this person now."""

    status = 400


class InvitationLinkInvalid(InvitationUnusable):
    """The token is missing, malformed or unknown."""

    code = ErrorCode.INVALID_REQUEST
    public_message = "This invitation link is not valid. Ask for a new one."


class InvitationLinkUsed(InvitationUnusable):
    """The invitation was accepted already."""

    code = ErrorCode.INVITATION_ALREADY_ACCEPTED
    status = 409
    public_message = "This invitation has already been accepted."


class InvitationLinkExpired(InvitationUnusable):
    """The invitation's time is up."""

    code = ErrorCode.INVITATION_EXPIRED
    status = 410
    public_message = "This invitation has expired. Ask for a new one."


class InvitationLinkRevoked(InvitationUnusable):
    """The organization withdrew the invitation."""

    code = ErrorCode.INVITATION_REVOKED
    status = 410
    public_message = "This invitation has been withdrawn."


class InvitationsDisabled(InvitationUnusable):
    """Personal mode has no invitations."""

    code = ErrorCode.FORBIDDEN
    status = 403
    public_message = "Invitations are not available on this server."


class InvitationNeedsNewAccount(InvitationUnusable):
    """Single mode: an existing account cannot join another organization."""

    code = ErrorCode.FORBIDDEN
    status = 403
    public_message = "This invitation requires creating a new account."


class InvitationForOtherEmail(InvitationUnusable):
    """The signed-in account's email is not the invited one."""

    code = ErrorCode.FORBIDDEN
    status = 403
    public_message = "This invitation was sent to a different email address."


class InvitationAlreadyMember(InvitationUnusable):
    """The account belongs to the organization already."""

    code = ErrorCode.ALREADY_MEMBER
    status = 409
    public_message = "You are already a member of this organization."


class AlreadyInOrganization(InvitationUnusable):
    """Single mode: the account belongs to an organization already."""

    code = ErrorCode.ALREADY_MEMBER
    status = 409
    public_message = "This account already belongs to an organization."


class ConsoleChangeRefused(InvalidRequest):
    """An admin console action a guard refuses (contract §17); nothing was changed.

    Raised with the reason as its message: acting on oneself where it is not allowed, or a
    destructive action sent without its confirmation.
    """

    public_message = "That change is not allowed. Nothing was changed."


class LastActiveAdmin(ConsoleChangeRefused):
    """Disabling or demoting the last active admin would leave nobody to administer."""

    public_message = (
        "This is the last active admin: it cannot be disabled or lose the admin role."
        " Nothing was changed."
    )


class MailNotRebuildable(ConsoleChangeRefused):
    """A failed mail whose contents were cleared when it failed (not a challenge's code mail)."""

    status = 409
    public_message = (
        "This mail cannot be sent again: its contents were cleared when it failed. Send it again"
        " from where it came from (resend the invitation, or email the reset link again)."
    )


class NotRetryable(ConsoleChangeRefused):
    """A failed email job or webhook event to retry is no longer failed (retried already)."""

    status = 409
    public_message = (
        "That delivery is no longer failed (it was retried already). Nothing was changed."
    )


class SessionNotFound(InvalidRequest):
    """A session to revoke is not one of the caller's live sessions (nothing changed)."""

    status = 422
    public_message = "That session was not found or has already ended."


class PasskeySignInFailed(Unauthorized):
    """A passkey assertion that does not verify (any check: one message for all).

    Unknown credential, used or expired challenge, another origin or RP ID, a bad signature,
    no user verification, a cloned authenticator: the caller learns nothing of which failed.
    """

    public_message = "Passkey sign-in failed."


class PasskeyNotFound(NotFound):
    """The id names none of the caller's passkeys."""

    public_message = "That passkey was not found."


class PasskeyAlreadyExists(AuthError):
    """The authenticator's credential is registered already (upstream 409)."""

    code = ErrorCode.PASSKEY_ALREADY_EXISTS
    status = 409
    public_message = "This passkey is already registered."


class PasskeyRegistrationInvalid(AuthError):
    """A registration that does not verify, or whose challenge is used, expired or unknown."""

    code = ErrorCode.PASSKEY_REGISTRATION_INVALID
    status = 422
    public_message = "The passkey could not be registered. Try again."
