"""The contract's pure helpers: return_to, envelope, duration and bool parsing, key parsing."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie

import jwt
import pytest
from aiohttp import web

from authara_contract import cookies
from authara_contract.claims import Audience, OrganizationRole
from authara_contract.cookies import CookieSpec
from authara_contract.env import parse_bool, parse_duration, parse_host_port
from authara_contract.errors import ErrorCode, error_body
from authara_contract.return_to import is_safe_return_to, resolve_return_to, with_return_to
from authara_contract.tokens import (
    InvalidAccessToken,
    KeyConfigError,
    KeySet,
    decode_access_token,
    encode_access_token,
    parse_jwt_keys,
)
from tests.tokensupport import sign_claims

KEY = b"s" * 32
KEYS = KeySet({"k1": KEY, "k2": b"t" * 32}, "k1")
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", ["/", "/private", "/account?tab=sessions#current", "/a/b%20c"])
def test_safe_return_to(value: str) -> None:
    assert is_safe_return_to(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "evil",
        " /x",
        "/x ",
        "/a\r\nb",
        "/a\x7f",
        "\\\\evil",
    ],
)
def test_unsafe_return_to(value: str) -> None:
    assert not is_safe_return_to(value)
    assert resolve_return_to(value, "/home") == "/home"


def test_with_return_to_encodes() -> None:
    assert (
        with_return_to("/auth/login", "/private?a=1&b=2")
        == "/auth/login?return_to=%2Fprivate%3Fa%3D1%26b%3D2"
    )


def test_error_body_is_compact_json_with_newline() -> None:
    assert error_body(ErrorCode.NOT_FOUND, "Route not found.") == (
        b'{"error":{"code":"not_found","message":"Route not found."}}\n'
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("30s", 30), ("1h30m", 5400), ("720h", 2592000), ("0", 0), ("1.5s", 1.5), ("250ms", 0.25)],
)
def test_parse_duration(raw: str, expected: float) -> None:
    assert parse_duration(raw) == timedelta(seconds=expected)


@pytest.mark.parametrize("raw", ["", "10", "1d", "h", "5 m", "-1s"])
def test_parse_duration_rejects(raw: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(raw)


def test_parse_bool() -> None:
    assert parse_bool("true") and parse_bool("1") and parse_bool("T")
    assert not parse_bool("false") and not parse_bool("0")
    with pytest.raises(ValueError, match="true or false"):
        parse_bool("yes")


def test_parse_host_port() -> None:
    assert parse_host_port(":3000") == ("0.0.0.0", 3000)
    assert parse_host_port("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_host_port("[::1]:80") == ("::1", 80)
    for bad in ("3000", "host:", "host:0", "host:70000", "host:abc"):
        with pytest.raises(ValueError, match="host:port"):
            parse_host_port(bad)


def test_parse_jwt_keys() -> None:
    raw = f"a:{base64.b64encode(KEY).decode()}, b:{base64.b64encode(b'x' * 40).decode()}"
    assert parse_jwt_keys(raw) == {"a": KEY, "b": b"x" * 40}


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "at least one key"),
        ("nokey", "kid:base64secret"),
        (f"a:{base64.b64encode(b'short').decode()}", "at least 32"),
        ("a:not*base64", "base64"),
        (f"a:{base64.b64encode(KEY).decode()},a:{base64.b64encode(KEY).decode()}", "twice"),
    ],
)
def test_parse_jwt_keys_rejects(raw: str, why: str) -> None:
    with pytest.raises(KeyConfigError, match=why):
        parse_jwt_keys(raw)


def test_signed_tokens_are_what_pyjwt_signs() -> None:
    claims = {"iss": "iss", "sub": str(uuid.uuid4()), "aud": ["app"], "iat": 1, "exp": 2}
    expected = jwt.encode(claims, KEY, algorithm="HS256", headers={"kid": "k1"})
    assert KEYS.sign(claims) == expected


def test_key_set_refuses_a_public_key_as_hmac_secret() -> None:
    pem = (
        b"-----BEGIN PUBLIC KEY-----\n"
        b"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n"
        b"-----END PUBLIC KEY-----\n"
    )
    with pytest.raises(KeyConfigError, match="not usable as an HMAC secret"):
        KeySet({"k1": pem}, "k1")


def _token(**overrides: object) -> str:
    args: dict[str, object] = {
        "keys": KEYS,
        "issuer": "iss",
        "user_id": uuid.uuid4(),
        "session_id": uuid.uuid4(),
        "organization_id": uuid.uuid4(),
        "organization_role": OrganizationRole.OWNER,
        "audience": Audience.APP,
        "roles": (),
        "now": NOW,
        "ttl": timedelta(minutes=10),
    }
    args.update(overrides)
    return encode_access_token(**args)  # type: ignore[arg-type]


def test_access_token_round_trip_and_shape() -> None:
    user_id = uuid.uuid4()
    token = _token(user_id=user_id, roles=("authara:admin",))
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "HS256", "kid": "k1", "typ": "JWT"}
    payload = jwt.decode(token, options={"verify_signature": False})
    assert set(payload) == {"iss", "sub", "aud", "iat", "exp", "sid", "org_id", "org_role", "roles"}
    assert payload["org_role"] == "owner"
    assert payload["aud"] == ["app"]
    assert payload["exp"] - payload["iat"] == 600
    claims = decode_access_token(token, keys=KEYS, issuer="iss", audiences=(Audience.APP,), now=NOW)
    assert claims.user_id == user_id
    assert claims.roles == ("authara:admin",)


def test_roles_claim_is_always_an_array() -> None:
    payload = jwt.decode(_token(), options={"verify_signature": False})
    assert payload["roles"] == []


def test_verifies_with_any_listed_key() -> None:
    other = KeySet(KEYS.keys, "k2")
    token = _token(keys=other)
    assert decode_access_token(token, keys=KEYS, issuer="iss", audiences=(Audience.APP,), now=NOW)


@pytest.mark.parametrize(
    "token_factory",
    [
        lambda: _token(now=NOW - timedelta(minutes=11)),
        lambda: _token(issuer="other"),
        lambda: _token(audience=Audience.ADMIN),
        lambda: _token(keys=KeySet({"k3": b"z" * 32}, "k3")),
        lambda: _token(keys=KeySet({"k1": b"z" * 32}, "k1")),
        lambda: jwt.encode({"sub": str(uuid.uuid4())}, None, algorithm="none"),
        lambda: jwt.encode(
            {
                "iss": "iss",
                "sub": str(uuid.uuid4()),
                "aud": ["app"],
                "iat": 1,
                "exp": 2**40,
                "sid": str(uuid.uuid4()),
            },
            KEY * 2,
            algorithm="HS512",
            headers={"kid": "k1"},
        ),
        lambda: _token(roles=("root",)),
        lambda: _token(organization_id=uuid.UUID(int=0)),
        lambda: _token(session_id=uuid.UUID(int=0)),
        lambda: _signed(org_id=None),
        lambda: _signed(org_role=""),
        lambda: _signed(org_role="root"),
        lambda: "garbage",
    ],
)
def test_rejects_bad_tokens(token_factory: object) -> None:
    token = token_factory()  # type: ignore[operator]
    with pytest.raises(InvalidAccessToken):
        decode_access_token(token, keys=KEYS, issuer="iss", audiences=(Audience.APP,), now=NOW)


def _signed(**claims: object) -> str:
    return sign_claims(KEYS, "iss", int(NOW.timestamp()), **claims)


HOSTILE_TIMES = [
    pytest.param({"exp": 10**30}, id="exp-huge"),
    pytest.param({"exp": 253402300800}, id="exp-year-10000"),
    pytest.param({"exp": 1e308}, id="exp-huge-float"),
    pytest.param({"exp": float("inf")}, id="exp-infinity"),
    pytest.param({"exp": float("nan")}, id="exp-nan"),
    pytest.param({"iat": 10**30}, id="iat-huge"),
    pytest.param({"iat": -(10**30)}, id="iat-huge-negative"),
    pytest.param({"iat": float("inf")}, id="iat-infinity"),
    pytest.param({"iat": float("-inf")}, id="iat-negative-infinity"),
]


@pytest.mark.parametrize("claims", HOSTILE_TIMES)
@pytest.mark.parametrize("now", [NOW, None], ids=["callers-clock", "pyjwt-clock"])
def test_signed_tokens_with_out_of_range_times_are_invalid(
    claims: dict[str, object], now: datetime | None
) -> None:
    token = _signed(**claims)

    with pytest.raises(InvalidAccessToken):
        decode_access_token(token, keys=KEYS, issuer="iss", audiences=(Audience.APP,), now=now)


def test_verified_token_cache_expires_and_is_bounded() -> None:
    from authara_contract.tokens import VerifiedTokenCache

    cache: VerifiedTokenCache[str] = VerifiedTokenCache(max_entries=2)
    cache.put("a", "A", expires=100.0)
    assert cache.get("a", now=99.0) == "A"
    assert cache.get("a", now=100.0) is None
    assert len(cache) == 0
    for token in ("x", "y", "z"):
        cache.put(token, token.upper(), expires=200.0)
    assert len(cache) == 2
    assert cache.get("x", now=0.0) is None
    assert cache.get("z", now=0.0) == "Z"


def _morsel_attributes(set_cookie: str) -> dict[str, str | bool]:
    parsed: SimpleCookie = SimpleCookie()
    parsed.load(set_cookie)
    ((name, morsel),) = parsed.items()
    attributes = {key: morsel[key] for key in ("path", "max-age", "httponly", "samesite", "secure")}
    return {"name": name, "value": morsel.value, **attributes}


@pytest.mark.parametrize("spec", cookies.ALL, ids=lambda spec: spec.name)
@pytest.mark.parametrize("prod", [False, True], ids=["dev", "prod"])
def test_clearing_header_deletes_what_aiohttps_del_cookie_deletes(
    spec: CookieSpec, prod: bool
) -> None:
    response = web.Response()
    response.del_cookie(
        spec.name,
        path=spec.path,
        secure=spec.is_secure(prod=prod),
        httponly=spec.http_only,
        samesite=spec.same_site,
    )
    from_aiohttp = response.cookies[spec.name].output(header="").strip()

    cleared = spec.clearing_header(prod=prod)

    assert _morsel_attributes(cleared) == _morsel_attributes(from_aiohttp)
    assert "Expires=Thu, 01 Jan 1970 00:00:00 GMT" in cleared
    assert ("Secure" in cleared) is (prod and spec.secure_in_prod)
