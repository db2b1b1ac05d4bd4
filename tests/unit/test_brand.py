"""Branding: WCAG contrast math, the color choices it drives, and the AUTHARA_BRAND_* settings."""

from __future__ import annotations

import email
import email.policy
import importlib.resources
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from authara_contract.database import DatabaseSettings
from authara_contract.env import SettingsError
from authara_core.mail.messages import MessageBuilder
from authara_core.mail.outbox import MailTemplate
from authara_core.platform import brand
from authara_core.platform.brand import (
    BLACK,
    DARK_BACKGROUNDS,
    LIGHT_BACKGROUNDS,
    MIN_CONTRAST,
    NEAR_BLACK,
    WHITE,
    Brand,
    brand_file_name,
    brand_stylesheet,
    contrast_ratio,
    link_color,
    relative_luminance,
    text_color_on,
)
from authara_core.platform.csp import security_headers
from authara_core.settings import load_settings
from tests.coresupport import core_env

DB = DatabaseSettings(host="127.0.0.1", port=5432, database="authara", username="postgres")


# --- contrast math (reference values: WCAG 2.x definitions, WebAIM's contrast checker) -----


@pytest.mark.parametrize(
    ("color", "luminance"),
    [("#000000", 0.0), ("#ffffff", 1.0), ("#ff0000", 0.2126), ("#00ff00", 0.7152)],
)
def test_relative_luminance(color: str, luminance: float) -> None:
    assert relative_luminance(color) == pytest.approx(luminance, abs=1e-4)


@pytest.mark.parametrize(
    ("first", "second", "ratio"),
    [
        ("#000000", "#ffffff", 21.0),
        ("#ffffff", "#000000", 21.0),  # order does not matter
        ("#777777", "#ffffff", 4.48),  # the classic just-fails gray
        ("#767676", "#ffffff", 4.54),  # and the just-passes one
        ("#4f46e5", "#ffffff", 6.29),
        ("#123456", "#123456", 1.0),
    ],
)
def test_contrast_ratio(first: str, second: str, ratio: float) -> None:
    assert contrast_ratio(first, second) == pytest.approx(ratio, abs=0.01)


@pytest.mark.parametrize(
    ("background", "text"),
    [
        ("#4f46e5", WHITE),  # default indigo
        ("#1a7f37", WHITE),  # dark green
        ("#e11d48", WHITE),  # rose: 4.70 with white
        ("#ffd700", NEAR_BLACK),  # gold
        ("#ffffff", NEAR_BLACK),
        ("#808080", NEAR_BLACK),  # white 3.95, near-black 4.58
        ("#7a7a7a", BLACK),  # white 4.29, near-black 4.21: only black reaches 4.5
        ("#7d7d7d", BLACK),
    ],
)
def test_button_text_color(background: str, text: str) -> None:
    assert text_color_on(background) == text


def test_button_text_always_reaches_4_5_to_1() -> None:
    # Every gray, and a coarse walk through the whole cube: the hardest cases are mid-tones.
    colors = [f"#{v:02x}{v:02x}{v:02x}" for v in range(256)]
    colors += [f"#{r:02x}{g:02x}{b:02x}" for r in range(0, 256, 17) for g in range(0, 256, 17)
               for b in range(0, 256, 17)]  # fmt: skip
    for color in colors:
        assert contrast_ratio(text_color_on(color), color) >= MIN_CONTRAST, color


@pytest.mark.parametrize(
    ("color", "light", "dark"),
    [
        ("#1a7f37", "#1a7f37", None),  # dark green: readable on light cards only
        ("#ffd700", None, "#ffd700"),  # gold: readable on dark cards only
        ("#808080", None, None),  # mid gray: neither, keep the defaults
        ("#e11d48", None, None),  # 4.70 on white but 4.35 on the light page background
    ],
)
def test_link_color_only_where_readable(color: str, light: str | None, dark: str | None) -> None:
    assert link_color(color, LIGHT_BACKGROUNDS) == light
    assert link_color(color, DARK_BACKGROUNDS) == dark


def test_backgrounds_are_authara_css_values() -> None:
    # The link choice is only right while these match the stylesheet's --card and --bg.
    css = (importlib.resources.files("authara_core") / "static" / "authara.css").read_text()
    light, dark = re.findall(r":root \{([^}]*)\}", css)[:2]

    def value(block: str, name: str) -> str:
        match = re.search(rf"--{name}: (#[0-9a-fA-F]{{3,6}})", block)
        assert match is not None, name
        raw = match.group(1).lower()
        return "#" + "".join(c * 2 for c in raw[1:]) if len(raw) == 4 else raw

    assert (value(light, "card"), value(light, "bg")) == LIGHT_BACKGROUNDS
    assert (value(dark, "card"), value(dark, "bg")) == DARK_BACKGROUNDS


def test_stylesheet_sets_custom_properties_per_scheme() -> None:
    css = brand_stylesheet(Brand(color="#1a7f37"))
    assert ":root { --accent: #1a7f37; --on-accent: #ffffff; }" in css
    light_link = "{ :root { --link: #1a7f37; --focus: #1a7f37; } }"
    assert f"@media (prefers-color-scheme: light) {light_link}" in css
    assert "prefers-color-scheme: dark) {" not in css  # the dark default link stays
    gold = brand_stylesheet(Brand(color="#ffd700"))
    assert f"--on-accent: {NEAR_BLACK}" in gold
    dark_link = "{ :root { --link: #ffd700; --focus: #ffd700; } }"
    assert f"@media (prefers-color-scheme: dark) {dark_link}" in gold
    assert "--" not in brand_stylesheet(Brand())  # no color: nothing overridden


# --- logo URLs, brand file names, CSP ------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.example.com/acme/logo.svg",
        "https://cdn.example.com:8443/logo.png?v=2",
        "http://localhost:8000/logo.png",
        "http://127.0.0.1/logo.png",
        "/auth/brand/logo.svg",
        "/static/logo.png",
    ],
)
def test_logo_urls_accepted(url: str) -> None:
    assert brand.logo_url_problem(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:image/png;base64,iVBORw0KGgo=",
        "data:image/svg+xml,<svg/>",
        "http://cdn.example.com/logo.png",  # plain http off localhost
        "//cdn.example.com/logo.png",
        "https://user:pw@cdn.example.com/logo.png",
        'https://cdn.example.com/a"onerror="x.png',
        "https://cdn.example.com/a b.png",
        "ftp://cdn.example.com/logo.png",
        "logo.png",
        "https:///logo.png",
        "https://example.com/" + "a" * 2048,
    ],
)
def test_logo_urls_refused(url: str) -> None:
    assert brand.logo_url_problem(url) is not None


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/auth/brand/logo.svg", "logo.svg"),
        ("/auth/brand/Logo-2.PNG", "Logo-2.PNG"),
        ("/auth/brand/../settings.py", None),
        ("/auth/brand/a/b.png", None),
        ("/auth/brand/.hidden.png", None),
        ("/auth/brand/page.html", None),
        ("/auth/brand/logo.svg.html", None),
        ("/auth/brand/", None),
        ("/auth/static/logo.png", None),
    ],
)
def test_brand_file_names(path: str, name: str | None) -> None:
    assert brand_file_name(path) == name


def test_logo_origin_widens_img_src_only() -> None:
    plain = security_headers(google=False)["Content-Security-Policy"]
    headers = security_headers(google=False, logo_origin="https://cdn.example.com")
    widened = headers["Content-Security-Policy"]
    assert "img-src 'self' data: https://cdn.example.com;" in widened
    assert widened.replace(" https://cdn.example.com", "") == plain
    assert Brand(logo_url="https://cdn.example.com:8443/a/logo.png").logo_origin == (
        "https://cdn.example.com:8443"
    )
    assert Brand(logo_url="/auth/brand/logo.png").logo_origin is None


# --- settings ------------------------------------------------------------------------------


def test_unset_brand_looks_as_before() -> None:
    settings = load_settings(core_env(DB))
    assert settings.brand == Brand()
    assert settings.brand.name == "Authara"
    assert settings.brand.header is False


def test_brand_settings(tmp_path: Path) -> None:
    (tmp_path / "logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    env = core_env(
        DB,
        AUTHARA_APP_NAME=" Acme ",
        AUTHARA_BRAND_COLOR="#1A7F37",
        AUTHARA_BRAND_DIR=str(tmp_path),
        AUTHARA_BRAND_LOGO_URL="/auth/brand/logo.svg",
    )
    assert load_settings(env).brand == Brand(
        app_name="Acme",
        logo_url="/auth/brand/logo.svg",
        color="#1a7f37",
        directory=tmp_path.resolve(),
    )


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("AUTHARA_BRAND_COLOR", "red", "must be a color such as #1a7f37, got 'red'"),
        ("AUTHARA_BRAND_COLOR", "#12345", "must be a color"),
        ("AUTHARA_BRAND_COLOR", "#1234567", "must be a color"),
        ("AUTHARA_BRAND_COLOR", "1a7f37", "must be a color"),
        ("AUTHARA_APP_NAME", "A" * 61, "at most 60 characters"),
        ("AUTHARA_APP_NAME", "Acme\x1b[31m", "control characters"),
        ("AUTHARA_BRAND_LOGO_URL", "javascript:alert(1)", "must be an https URL"),
        ("AUTHARA_BRAND_LOGO_URL", "/auth/brand/logo.svg", "needs AUTHARA_BRAND_DIR"),
        ("AUTHARA_BRAND_LOGO_URL", "/auth/brand/page.html", "one image file"),
        ("AUTHARA_BRAND_DIR", "relative/dir", "absolute path of a directory"),
        ("AUTHARA_BRAND_DIR", "/nonexistent/brand", "absolute path of a directory"),
    ],
)
def test_bad_brand_settings_are_named(name: str, value: str, why: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(core_env(DB, **{name: value}))
    assert [problem[0] for problem in caught.value.problems] == [name]
    assert why in caught.value.problems[0][1]


def test_logo_must_exist_in_the_brand_dir(tmp_path: Path) -> None:
    env = core_env(
        DB, AUTHARA_BRAND_DIR=str(tmp_path), AUTHARA_BRAND_LOGO_URL="/auth/brand/logo.png"
    )
    missing = re.escape("'logo.png' is not a file in AUTHARA_BRAND_DIR")
    with pytest.raises(SettingsError, match=missing):
        load_settings(env)


def test_bad_brand_color_exits_2_naming_it() -> None:
    script = Path(sys.executable).parent / "authara-core"
    env = {"PATH": "/usr/bin:/bin", **core_env(DB, AUTHARA_BRAND_COLOR="#zzzzzz")}
    result = subprocess.run(
        [str(script)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert "AUTHARA_BRAND_COLOR: must be a color such as #1a7f37" in result.stderr
    assert "Traceback" not in result.stderr


# --- mail ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "name", "expected"),
    [
        ("no-reply@example.com", "Acme", "Acme <no-reply@example.com>"),
        ("no-reply@example.com", "Acme, Inc.", '"Acme, Inc." <no-reply@example.com>'),
        ("Support <help@example.com>", "Acme", "Support <help@example.com>"),  # kept as set
        ("no-reply@example.com", None, "no-reply@example.com"),
    ],
)
def test_app_name_names_the_sender(sender: str, name: str | None, expected: str) -> None:
    builder = MessageBuilder(sender, display_name=name)
    context = {
        "organization_name": "Acme",
        "role": "member",
        "invite_url": "https://auth.example.com/auth/invitations/accept?token=t0k",
        "expires_at": "2026-12-10T17:40:00Z",
    }
    message = builder.build(
        MailTemplate.ORGANIZATION_INVITATION, "ada@example.com", context, datetime.now(UTC)
    )
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert str(parsed["From"]) == expected
