"""Pure parts of the OAuth flow: per-flow secrets, flash messages, the widened CSP."""

from __future__ import annotations

import re

from aiohttp import web
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from authara_core.oauth.port import is_verified, normalize_provider_email
from authara_core.oauth.secrets import (
    flow_secrets,
    hash_secret,
    looks_like_secret,
    new_secret,
)
from authara_core.platform.csp import google_csp
from authara_core.platform.envelope import SECURITY_HEADERS
from authara_core.platform.flash import Flash, parse_flash, set_flash

VERIFIER_CHARS = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")  # RFC 7636 §4.1


def test_flow_secrets_are_derived_from_the_browser_secret_and_the_state() -> None:
    binding, state = new_secret(), new_secret()
    secrets = flow_secrets(binding, state)
    assert secrets == flow_secrets(binding, state)
    assert VERIFIER_CHARS.match(secrets.verifier)
    assert len(secrets.nonce) == 43
    assert secrets.verifier != secrets.nonce
    other_browser = flow_secrets(new_secret(), state)
    assert other_browser.verifier != secrets.verifier and other_browser.nonce != secrets.nonce
    other_flow = flow_secrets(binding, new_secret())
    assert other_flow.verifier != secrets.verifier


def test_s256_challenge_is_what_authlib_sends() -> None:
    verifier = flow_secrets(new_secret(), new_secret()).verifier
    challenge = create_s256_code_challenge(verifier)
    assert len(challenge) == 43 and challenge != verifier


def test_secrets_are_stored_as_hashes() -> None:
    secret = new_secret()
    assert looks_like_secret(secret)
    assert len(hash_secret(secret)) == 64 and secret not in hash_secret(secret)
    assert not looks_like_secret(None) and not looks_like_secret("short")
    assert not looks_like_secret("é" * 43)


def test_flash_round_trip_and_garbage() -> None:
    response = web.Response()
    set_flash(response, Flash("error", "Sign-in with Corp was cancelled."))
    value = response.cookies["authara_flash"].value
    assert parse_flash(value) == Flash("error", "Sign-in with Corp was cancelled.")
    assert parse_flash("not base64 !!") is None
    assert parse_flash("eyJraW5kIjoiaGFjayIsIm1lc3NhZ2UiOiJ4In0") is None  # unknown kind
    assert parse_flash("") is None


def test_google_csp_widens_exactly_the_four_directives() -> None:
    base = SECURITY_HEADERS["Content-Security-Policy"]
    widened = dict(d.split(" ", 1) for d in google_csp().split("; "))
    original = dict(d.split(" ", 1) for d in base.split("; "))
    changed = {name for name in original if original[name] != widened[name]}
    assert changed == {"img-src", "connect-src", "frame-src", "script-src"}
    assert widened["frame-src"] == "https://accounts.google.com"
    assert widened["default-src"] == "'self'" and widened["form-action"] == "'self'"


def test_provider_claim_helpers() -> None:
    assert normalize_provider_email("  Ada@Example.COM ") == "ada@example.com"
    assert normalize_provider_email(None) is None and normalize_provider_email(" ") is None
    assert is_verified(True) and is_verified("true")
    assert not is_verified("True ") and not is_verified(1) and not is_verified(None)
