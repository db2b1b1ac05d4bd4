"""Branding by configuration: every page carries the app name, logo and brand stylesheet.

The real app on a real database, served both ways (router and direct dispatch).
"""

from __future__ import annotations

import importlib.resources
import re
from pathlib import Path
from typing import Final

import pytest
from aiohttp.test_utils import TestClient

from authara_contract import routes
from authara_contract.database import DatabaseSettings
from authara_core.app import create_app
from authara_core.platform.brand import brand_stylesheet
from authara_core.settings import load_settings
from tests.coresupport import core_env
from tests.integration.core.conftest import ClientFactory, signup

SVG: Final = (
    "<svg xmlns='http://www.w3.org/2000/svg' width='120' height='32'>"
    "<rect width='120' height='32' fill='#1a7f37'/></svg>"
)
PNG: Final = bytes.fromhex("89504e470d0a1a0a")  # the signature is enough for a content check
CSS_LINK: Final = re.compile(r'<link rel="stylesheet" href="(/auth/brand\.css\?v=[0-9a-f]{12})">')
TITLE: Final = re.compile(r"<title>([^<]*)</title>")


@pytest.fixture
def brand_dir(tmp_path: Path) -> Path:
    (tmp_path / "logo.svg").write_text(SVG)
    (tmp_path / "logo.png").write_bytes(PNG)
    (tmp_path / "page.html").write_text("<script>alert(1)</script>")
    (tmp_path / "inside").mkdir()
    (tmp_path / "inside" / "deep.png").write_bytes(PNG)
    outside = tmp_path.parent / f"{tmp_path.name}-secret.png"
    outside.write_bytes(PNG)
    (tmp_path / "escape.png").symlink_to(outside)
    return tmp_path


def _env(db: DatabaseSettings, brand_dir: Path, **overrides: str) -> dict[str, str]:
    return core_env(
        db,
        AUTHARA_APP_NAME="Acme & Co",
        AUTHARA_BRAND_COLOR="#1A7F37",
        AUTHARA_BRAND_DIR=str(brand_dir),
        AUTHARA_BRAND_LOGO_URL="/auth/brand/logo.svg",
        **overrides,
    )


def _assert_branded(html: str, page: str) -> str:
    title = TITLE.search(html)
    assert title is not None, page
    assert title.group(1).endswith("· Acme &amp; Co"), (page, title.group(1))
    assert '<header class="brand">' in html, page
    assert '<img class="brand-logo" src="/auth/brand/logo.svg" alt="Acme &amp; Co">' in html, page
    assert "brand-name" not in html, page  # the logo stands for the name
    assert "<footer>Secured by Authara</footer>" in html, page
    assert " style=" not in html, page  # the strict CSP needs no inline style
    link = CSS_LINK.search(html)
    assert link is not None, page
    return link.group(1)


async def test_every_reachable_page_is_branded(
    aiohttp_client: ClientFactory, db: DatabaseSettings, brand_dir: Path
) -> None:
    client: TestClient = await aiohttp_client(create_app(load_settings(_env(db, brand_dir))))
    pages = [
        routes.LOGIN,
        routes.SIGNUP,
        routes.PASSWORD_RESET,
        f"{routes.INVITATION_ACCEPT}?token=not-a-token",  # invitation_unavailable.html
        routes.ACCOUNT_DELETED,
        "/auth/no-such-page",  # error.html
    ]
    answers = {page: await client.get(page) for page in pages}
    assert (await signup(client)).status == 303
    for page in (routes.ACCOUNT, routes.PASSWORD_CHANGE):
        answers[page] = await client.get(page)
    forbidden = await client.post(routes.LOGIN, data={"email": "a@example.com"})
    answers["POST login without CSRF"] = forbidden
    css_urls = set()
    for page, response in answers.items():
        assert response.content_type == "text/html", page
        csp = response.headers["Content-Security-Policy"]
        assert "img-src 'self' data:;" in csp, page  # a same-origin logo widens nothing
        css_urls.add(_assert_branded(await response.text(), page))
    assert forbidden.status == 403
    assert answers["/auth/no-such-page"].status == 404
    (css_url,) = css_urls
    css = await client.get(css_url)
    assert css.status == 200
    assert css.content_type == "text/css"
    assert css.headers["Cache-Control"] == "public, max-age=86400"
    body = await css.text()
    assert body == brand_stylesheet(load_settings(_env(db, brand_dir)).brand)
    assert ":root { --accent: #1a7f37; --on-accent: #ffffff; }" in body
    light_link = "{ :root { --link: #1a7f37; --focus: #1a7f37; } }"
    assert f"@media (prefers-color-scheme: light) {light_link}" in body
    again = await client.get(css_url, headers={"If-None-Match": css.headers["ETag"]})
    assert again.status == 304


def test_every_page_template_titles_with_the_app_name() -> None:
    templates = importlib.resources.files("authara_core") / "templates"
    pages = [
        path
        for folder in templates.iterdir()
        if folder.is_dir() and folder.name != "mail"
        for path in folder.iterdir()
        if path.name.endswith(".html") and '{% extends "platform/base.html" %}' in path.read_text()
    ]
    assert len(pages) >= 14  # the password form lives on the account page (no page of its own)
    for page in pages:
        title = re.search(r"{% block title %}(.*?){% endblock %}", page.read_text())
        assert title is not None, page.name
        assert title.group(1).endswith(" · {{ brand.name }}"), page.name
        assert "Authara" not in title.group(1), page.name


async def test_unset_brand_keeps_pages_as_they_were(
    aiohttp_client: ClientFactory, db: DatabaseSettings
) -> None:
    client: TestClient = await aiohttp_client(create_app(load_settings(core_env(db))))
    html = await (await client.get(routes.LOGIN)).text()
    assert "<title>Log in · Authara</title>" in html
    assert "<header" not in html
    assert "brand.css" not in html
    assert '<body>\n  <main id="body" class="card">' in html
    assert (await client.get("/auth/brand/logo.svg")).status == 404
    css = await client.get(routes.BRAND_CSS)
    assert css.status == 200
    assert "--" not in await css.text()


async def test_name_only_and_absolute_logo(
    aiohttp_client: ClientFactory, db: DatabaseSettings
) -> None:
    name_only = create_app(load_settings(core_env(db, AUTHARA_APP_NAME="Acme")))
    client: TestClient = await aiohttp_client(name_only)
    html = await (await client.get(routes.SIGNUP)).text()
    assert "<title>Create an account · Acme</title>" in html
    assert '<header class="brand"><span class="brand-name">Acme</span>\n  </header>' in html
    assert "<img" not in html
    assert "brand.css" not in html  # no color, no stylesheet
    logo = "https://cdn.example.com:8443/acme/logo.png"
    remote = create_app(load_settings(core_env(db, AUTHARA_BRAND_LOGO_URL=logo)))
    client = await aiohttp_client(remote)
    response = await client.get(routes.LOGIN)
    html = await response.text()
    assert f'<img class="brand-logo" src="{logo}" alt="Authara">' in html
    assert "brand-name" not in html
    csp = response.headers["Content-Security-Policy"]
    assert "img-src 'self' data: https://cdn.example.com:8443;" in csp
    assert "script-src 'self' 'unsafe-inline' 'unsafe-eval';" in csp  # nothing else widened


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/auth/brand/logo.svg", "image/svg+xml"), ("/auth/brand/logo.png", "image/png")],
)
async def test_brand_images_are_served_safely(
    aiohttp_client: ClientFactory,
    db: DatabaseSettings,
    brand_dir: Path,
    path: str,
    content_type: str,
) -> None:
    client: TestClient = await aiohttp_client(create_app(load_settings(_env(db, brand_dir))))
    response = await client.get(path)
    assert response.status == 200
    assert response.headers["Content-Type"] == content_type
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    policies = response.headers.getall("Content-Security-Policy")
    assert "default-src 'none'; style-src 'unsafe-inline'; sandbox" in policies
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    assert await response.read() == (brand_dir / path.rsplit("/", 1)[1]).read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/auth/brand/page.html",  # not an image type
        "/auth/brand/missing.png",
        "/auth/brand/escape.png",  # a symlink out of the directory
        "/auth/brand/inside/deep.png",  # only files directly in it
        "/auth/brand/..%2F..%2Fetc%2Fpasswd",
        "/auth/brand/%2e%2e%2fsecret.png",
        "/auth/brand/.png",
    ],
)
async def test_brand_dir_serves_nothing_else(
    aiohttp_client: ClientFactory, db: DatabaseSettings, brand_dir: Path, path: str
) -> None:
    client: TestClient = await aiohttp_client(create_app(load_settings(_env(db, brand_dir))))
    response = await client.get(path)
    assert response.status == 404
    assert "alert(1)" not in await response.text()
