"""The WebAuthn relying party: options and verification, all done by py_webauthn.

No CBOR, COSE or attestation parsing here: the library parses the browser's JSON, checks the
challenge, origin, RP ID hash, flags and signature, and answers plain values. What this module
adds is policy: discoverable credentials with user verification required, attestation `none`,
the RP ID and origin from PUBLIC_URL, and one refusal per ceremony whatever check failed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    options_to_json_dict,
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from authara_core.platform.errors import PasskeyRegistrationInvalid, PasskeySignInFailed

TIMEOUT_MS: Final = 5 * 60 * 1000  # the challenge's lifetime (upstream: 5 minutes)
ALGORITHMS: Final = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
_TRANSPORTS: Final = {t.value: t for t in AuthenticatorTransport}
# Any exception out of the library while it reads or checks client data is a refusal: its
# parsers raise more than WebAuthnException on hostile input (bad base64, odd CBOR shapes).
_FAILURES: Final = (Exception,)
JSONObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """Who the credentials are for: RP ID = PUBLIC_URL's host, origin = PUBLIC_URL's origin."""

    rp_id: str
    origin: str
    name: str

    @classmethod
    def for_public_url(cls, public_url: str, name: str) -> RelyingParty:
        """Derive the RP ID and the expected origin from PUBLIC_URL."""
        parts = urlsplit(public_url)
        return cls(rp_id=parts.hostname or "", origin=f"{parts.scheme}://{parts.netloc}", name=name)


@dataclass(frozen=True, slots=True)
class Registered:
    """A verified new credential."""

    credential_id: bytes
    public_key: bytes
    sign_count: int
    aaguid: str
    attestation_format: str
    user_verified: bool
    backup_eligible: bool
    backup_state: bool
    transports: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Assertion:
    """A sign-in's credential, parsed but not verified yet."""

    credential_id: bytes
    user_handle: bytes | None
    parsed: AuthenticationCredential


@dataclass(frozen=True, slots=True)
class Verified:
    """A verified assertion: the authenticator's counter and backup state now."""

    sign_count: int
    backup_state: bool


def registration_options(
    rp: RelyingParty,
    *,
    user_id: uuid.UUID,
    user_name: str,
    challenge: bytes,
    exclude: list[tuple[bytes, list[str]]],
) -> JSONObject:
    """Creation options for navigator.credentials.create(), as `{"publicKey": {...}}` JSON."""
    options = generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=rp.name,
        user_name=user_name,
        user_id=user_id.bytes,
        user_display_name=user_name,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            require_resident_key=True,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(
                id=credential_id,
                transports=[_TRANSPORTS[t] for t in transports if t in _TRANSPORTS] or None,
            )
            for credential_id, transports in exclude
        ],
        supported_pub_key_algs=ALGORITHMS,
    )
    return {"publicKey": options_to_json_dict(options)}


def authentication_options(rp: RelyingParty, *, challenge: bytes) -> JSONObject:
    """Request options for a discoverable credential (no allow list), as `{"publicKey": ...}`."""
    options = generate_authentication_options(
        rp_id=rp.rp_id,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        allow_credentials=[],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return {"publicKey": options_to_json_dict(options)}


def verify_registration(rp: RelyingParty, credential: JSONObject, challenge: bytes) -> Registered:
    """Verify a creation response; PasskeyRegistrationInvalid whatever does not check out."""
    try:
        parsed = parse_registration_credential_json(credential)
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
            require_user_presence=True,
            require_user_verification=True,
            supported_pub_key_algs=ALGORITHMS,
        )
    except _FAILURES as exc:
        raise PasskeyRegistrationInvalid from exc
    transports = tuple(
        t.value if isinstance(t, AuthenticatorTransport) else str(t)
        for t in (parsed.response.transports or [])
    )
    return Registered(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        aaguid=verified.aaguid,
        attestation_format=str(getattr(verified.fmt, "value", verified.fmt)),
        user_verified=verified.user_verified,
        backup_eligible=verified.credential_device_type is CredentialDeviceType.MULTI_DEVICE,
        backup_state=verified.credential_backed_up,
        transports=transports,
    )


def parse_assertion(credential: JSONObject) -> Assertion:
    """Read which credential signed (PasskeySignInFailed when the JSON is not an assertion)."""
    try:
        parsed = parse_authentication_credential_json(credential)
    except _FAILURES as exc:
        raise PasskeySignInFailed from exc
    return Assertion(
        credential_id=parsed.raw_id, user_handle=parsed.response.user_handle, parsed=parsed
    )


def verify_assertion(
    rp: RelyingParty, assertion: Assertion, *, challenge: bytes, public_key: bytes
) -> Verified:
    """Verify an assertion's challenge, origin, RP ID, flags (UV required) and signature.

    The counter is compared by the caller, after the signature holds: a counter that went
    backwards on a genuine signature is a cloned authenticator, worth flagging; on a bad one
    it is just a bad request. So the library is given 0 as the current count (it skips its own
    comparison) and reports the new one.
    """
    try:
        verified = verify_authentication_response(
            credential=assertion.parsed,
            expected_challenge=challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=rp.origin,
            credential_public_key=public_key,
            credential_current_sign_count=0,
            require_user_verification=True,
        )
    except _FAILURES as exc:
        raise PasskeySignInFailed from exc
    return Verified(sign_count=verified.new_sign_count, backup_state=verified.credential_backed_up)


def counter_went_backwards(stored: int, received: int) -> bool:
    """WebAuthn §6.1.1: with either counter non-zero, the new one must be greater."""
    return (stored > 0 or received > 0) and received <= stored
