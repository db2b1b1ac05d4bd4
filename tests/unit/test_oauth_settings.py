"""OAuth provider configuration: presets, generic OIDC, and one message naming every problem."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from authara_contract.database import DatabaseSettings
from authara_contract.env import SettingsError
from authara_core.oauth.config import ProviderKind
from authara_core.settings import load_settings
from tests.coresupport import core_env

DB = DatabaseSettings(host="127.0.0.1", port=5432, database="authara", username="postgres")


def _oauth(**values: str) -> dict[str, str]:
    return core_env(DB, **values)


def test_no_providers_by_default() -> None:
    oauth = load_settings(_oauth()).oauth
    assert oauth.providers == ()
    assert oauth.google is None
    assert oauth.http_timeout == timedelta(seconds=10)


def test_presets_and_a_generic_provider() -> None:
    oauth = load_settings(
        _oauth(
            AUTHARA_OAUTH_PROVIDERS=" Google, github ,corp_sso",
            AUTHARA_OAUTH_GOOGLE_CLIENT_ID="g-id",
            AUTHARA_OAUTH_GOOGLE_CLIENT_SECRET="g-secret",
            AUTHARA_OAUTH_GITHUB_CLIENT_ID="gh-id",
            AUTHARA_OAUTH_GITHUB_CLIENT_SECRET="gh-secret",
            AUTHARA_OAUTH_CORP_SSO_CLIENT_ID="c-id",
            AUTHARA_OAUTH_CORP_SSO_ISSUER="https://login.corp.example/realms/main",
            AUTHARA_OAUTH_CORP_SSO_SCOPES="openid,email groups",
            AUTHARA_OAUTH_HTTP_TIMEOUT="3s",
        )
    ).oauth
    google, github, corp = oauth.providers
    assert (google.name, google.kind, google.display_name) == (
        "google",
        ProviderKind.OIDC,
        "Google",
    )
    assert google.issuer == "https://accounts.google.com"
    assert google.scopes == ("openid", "email", "profile")
    assert google.redirect_uri == "http://127.0.0.1:3000/auth/oauth/google/callback"
    assert google.redirect_flow
    assert (github.kind, github.display_name) == (ProviderKind.GITHUB, "GitHub")
    assert (github.issuer, github.api_url) == ("https://github.com", "https://api.github.com")
    assert github.scopes == ("read:user", "user:email")
    assert corp.kind is ProviderKind.OIDC
    assert corp.display_name == "Corp Sso"
    assert corp.issuer == "https://login.corp.example/realms/main"
    assert corp.scopes == ("openid", "email", "groups")
    assert corp.client_secret is None and corp.redirect_flow  # a public client with PKCE
    assert oauth.google is google
    assert oauth.http_timeout == timedelta(seconds=3)


def test_upstream_google_client_id_alone_enables_only_the_id_token_api() -> None:
    oauth = load_settings(
        _oauth(AUTHARA_OAUTH_PROVIDERS="google", AUTHARA_OAUTH_GOOGLE_CLIENT_ID="g-id")
    ).oauth
    assert oauth.google is not None
    assert oauth.google.client_id == "g-id"
    assert not oauth.google.redirect_flow


def test_preset_base_urls_can_be_overridden() -> None:
    oauth = load_settings(
        _oauth(
            AUTHARA_OAUTH_PROVIDERS="google,github",
            AUTHARA_OAUTH_GOOGLE_CLIENT_ID="g",
            AUTHARA_OAUTH_GOOGLE_ISSUER="http://127.0.0.1:9000",
            AUTHARA_OAUTH_GITHUB_CLIENT_ID="gh",
            AUTHARA_OAUTH_GITHUB_CLIENT_SECRET="s",
            AUTHARA_OAUTH_GITHUB_ISSUER="https://ghe.corp.example",
            AUTHARA_OAUTH_GITHUB_API_URL="https://ghe.corp.example/api/v3",
            AUTHARA_OAUTH_GITHUB_DISPLAY_NAME="Corp GitHub",
        )
    ).oauth
    google, github = oauth.providers
    assert google.issuer == "http://127.0.0.1:9000"
    assert github.api_url == "https://ghe.corp.example/api/v3"
    assert github.display_name == "Corp GitHub"


@pytest.mark.parametrize(
    ("values", "name", "why"),
    [
        ({"AUTHARA_OAUTH_PROVIDERS": "corp"}, "AUTHARA_OAUTH_CORP_CLIENT_ID", "is required"),
        (
            {"AUTHARA_OAUTH_PROVIDERS": "corp", "AUTHARA_OAUTH_CORP_CLIENT_ID": "c"},
            "AUTHARA_OAUTH_CORP_ISSUER",
            "generic OpenID Connect",
        ),
        (
            {"AUTHARA_OAUTH_PROVIDERS": "github", "AUTHARA_OAUTH_GITHUB_CLIENT_ID": "c"},
            "AUTHARA_OAUTH_GITHUB_CLIENT_SECRET",
            "required for github",
        ),
        ({"AUTHARA_OAUTH_PROVIDERS": "my-idp"}, "AUTHARA_OAUTH_PROVIDERS", "not a provider name"),
        ({"AUTHARA_OAUTH_PROVIDERS": "password"}, "AUTHARA_OAUTH_PROVIDERS", "not 'password'"),
        (
            {"AUTHARA_OAUTH_PROVIDERS": "google,GOOGLE", "AUTHARA_OAUTH_GOOGLE_CLIENT_ID": "g"},
            "AUTHARA_OAUTH_PROVIDERS",
            "listed twice",
        ),
        (
            {
                "AUTHARA_OAUTH_PROVIDERS": "corp",
                "AUTHARA_OAUTH_CORP_CLIENT_ID": "c",
                "AUTHARA_OAUTH_CORP_ISSUER": "ftp://id.corp.example",
            },
            "AUTHARA_OAUTH_CORP_ISSUER",
            "http(s) URL",
        ),
        (
            {
                "AUTHARA_OAUTH_PROVIDERS": "corp",
                "AUTHARA_OAUTH_CORP_CLIENT_ID": "c",
                "AUTHARA_OAUTH_CORP_ISSUER": "https://id.corp.example?x=1",
            },
            "AUTHARA_OAUTH_CORP_ISSUER",
            "no query",
        ),
        (
            {
                "AUTHARA_OAUTH_PROVIDERS": "google",
                "AUTHARA_OAUTH_GOOGLE_CLIENT_ID": "g",
                "AUTHARA_OAUTH_GOOGLE_API_URL": "https://example.com",
            },
            "AUTHARA_OAUTH_GOOGLE_API_URL",
            "only read for github",
        ),
        (
            {
                "AUTHARA_OAUTH_PROVIDERS": "google",
                "AUTHARA_OAUTH_GOOGLE_CLIENT_ID": "g",
                "AUTHARA_OAUTH_GOOGLE_SCOPES": "email profile",
            },
            "AUTHARA_OAUTH_GOOGLE_SCOPES",
            "must include openid",
        ),
        ({"AUTHARA_OAUTH_HTTP_TIMEOUT": "0s"}, "AUTHARA_OAUTH_HTTP_TIMEOUT", "positive"),
        ({"AUTHARA_OAUTH_HTTP_TIMEOUT": "soon"}, "AUTHARA_OAUTH_HTTP_TIMEOUT", "duration"),
    ],
)
def test_bad_provider_configuration_is_named(values: dict[str, str], name: str, why: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(_oauth(**values))
    assert any(n == name and why in w for n, w in caught.value.problems), caught.value.problems


def test_prod_needs_https_provider_urls() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            _oauth(
                APP_ENV="prod",
                PUBLIC_URL="https://auth.example.com",
                AUTHARA_OAUTH_PROVIDERS="corp",
                AUTHARA_OAUTH_CORP_CLIENT_ID="c",
                AUTHARA_OAUTH_CORP_ISSUER="http://id.corp.example",
            )
        )
    assert ("AUTHARA_OAUTH_CORP_ISSUER", "must be https when APP_ENV=prod") in caught.value.problems


def test_bad_provider_config_stops_core_with_one_line() -> None:
    script = Path(sys.executable).parent / "authara-core"
    env = _oauth(AUTHARA_OAUTH_PROVIDERS="corp,github")
    result = subprocess.run(
        [str(script)],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("authara-core: invalid configuration: ")
    for name in (
        "AUTHARA_OAUTH_CORP_CLIENT_ID",
        "AUTHARA_OAUTH_CORP_ISSUER",
        "AUTHARA_OAUTH_GITHUB_CLIENT_SECRET",
    ):
        assert name in lines[0]
