"""A software WebAuthn authenticator for the passkey tests (tests only: the product parses nothing).

It holds EC P-256 keys (`cryptography`) and builds what a browser hands the relying party:
registration responses with attestation `none` (authenticator data, COSE key and attestation
object CBOR-encoded with `cbor2`) and assertions signed over authenticator data and the client
data hash, both as PublicKeyCredential.toJSON() writes them. Knobs make the bad ones: another
origin or RP ID, no user verification, a tampered signature, a chosen signature counter.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any, Final

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_UP: Final = 0x01
FLAG_UV: Final = 0x04
FLAG_BE: Final = 0x08
FLAG_BS: Final = 0x10
FLAG_AT: Final = 0x40
AAGUID: Final = bytes.fromhex("ea9b8d664d011d213ce4b6b48cb575d4")  # Google Password Manager


def b64url(data: bytes) -> str:
    """Encode base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    """Decode base64url with or without padding."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftCredential:
    """One discoverable credential: its id, key, owner's user handle and counter."""

    credential_id: bytes
    key: ec.EllipticCurvePrivateKey
    user_handle: bytes
    rp_id: str
    sign_count: int = 0

    def cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )


@dataclass
class SoftAuthenticator:
    """A platform authenticator with resident keys and user verification (Face ID-like)."""

    origin: str
    rp_id: str
    credentials: list[SoftCredential] = field(default_factory=list)
    synced: bool = True

    def _flags(self, *, uv: bool, extra: int = 0) -> int:
        flags = FLAG_UP | extra
        if uv:
            flags |= FLAG_UV
        if self.synced:
            flags |= FLAG_BE | FLAG_BS
        return flags

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False},
            separators=(",", ":"),
        ).encode()

    def register(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        uv: bool = True,
        kind: str = "webauthn.create",
        again: SoftCredential | None = None,
    ) -> dict[str, Any]:
        """Answer creation options (`options["publicKey"]`) with a new credential's JSON.

        `again` answers with a credential made before (a browser ignoring excludeCredentials).
        """
        public_key = options["publicKey"]
        rp_id = rp_id or self.rp_id
        credential = again or SoftCredential(
            credential_id=os.urandom(32),
            key=ec.generate_private_key(ec.SECP256R1()),
            user_handle=unb64url(public_key["user"]["id"]),
            rp_id=rp_id,
        )
        if again is None:
            self.credentials.append(credential)
        auth_data = (
            hashlib.sha256(rp_id.encode()).digest()
            + bytes([self._flags(uv=uv, extra=FLAG_AT)])
            + struct.pack(">I", credential.sign_count)
            + AAGUID
            + struct.pack(">H", len(credential.credential_id))
            + credential.credential_id
            + credential.cose_key()
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data(kind, public_key["challenge"], origin or self.origin)
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["hybrid", "internal"],
            },
        }

    def assertion(
        self,
        options: dict[str, Any],
        *,
        credential: SoftCredential | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        uv: bool = True,
        sign_count: int | None = None,
        tamper: bool = False,
        kind: str = "webauthn.get",
        user_handle: bytes | None = None,
    ) -> dict[str, Any]:
        """Answer request options with an assertion by `credential` (the newest by default).

        The counter goes up by one unless `sign_count` sets it; `tamper` flips a bit of the
        signature.
        """
        public_key = options["publicKey"]
        credential = credential or self.credentials[-1]
        credential.sign_count = credential.sign_count + 1 if sign_count is None else sign_count
        auth_data = (
            hashlib.sha256((rp_id or credential.rp_id).encode()).digest()
            + bytes([self._flags(uv=uv)])
            + struct.pack(">I", credential.sign_count)
        )
        client_data = self._client_data(kind, public_key["challenge"], origin or self.origin)
        signature = credential.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        if tamper:
            signature = signature[:-1] + bytes([signature[-1] ^ 0x01])
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(
                    credential.user_handle if user_handle is None else user_handle
                ),
            },
        }

    def stranger(self) -> SoftCredential:
        """A credential this relying party never registered."""
        return SoftCredential(
            credential_id=os.urandom(32),
            key=ec.generate_private_key(ec.SECP256R1()),
            user_handle=os.urandom(16),
            rp_id=self.rp_id,
        )
