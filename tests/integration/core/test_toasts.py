"""The one toast mechanism and the HTMX layer the pages load.

Under HTMX (`HX-Request: true`) every message the server wants shown as a toast is the same
fragment (platform/_toast.html): a `<div id="toasts" hx-swap-oob="innerHTML">` that replaces the
content of the layout's `aria-live` region, whatever the main swap is (none for errors). Whole
pages (no JavaScript) never carry it: the same message is a flash or an in-page message there.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from aiohttp.web import Application

from authara_contract import routes
from tests.integration.core.conftest import csrf_token, signup

Client = TestClient[object, Application]
HTMX = {"HX-Request": "true"}
STATIC = Path(__file__).parents[3] / "services/core/authara_core/static"
TOAST = re.compile(
    r'<div id="toasts" hx-swap-oob="innerHTML"><div class="toast( ok)?" role="(alert|status)" '
    r'data-testid="toast"><p>([^<]*)</p><button type="button" class="toast-close" '
    r'data-toast-dismiss aria-label="Dismiss this message">&times;</button></div></div>'
)


def toasts(html: str) -> list[tuple[str, str]]:
    """Every toast in an answer as (kind, message)."""
    return [
        ("success" if ok else "error", message)
        for ok, role, message in TOAST.findall(html)
        if (role == "status") == bool(ok)
    ]


async def signed_up(client: Client) -> str:
    response = await signup(client)
    assert response.status == 303
    return await csrf_token(client, routes.ACCOUNT)


async def test_pages_load_htmx_and_the_page_script_from_this_origin(client: Client) -> None:
    html = await (await client.get(routes.LOGIN)).text()
    assert '<script src="/auth/static/vendor/htmx.min.js" defer></script>' in html
    assert '<script src="/auth/static/authara.js" defer></script>' in html
    assert '<div id="toasts" aria-live="polite"></div>' in html
    assert "<script>" not in html and " style=" not in html  # nothing inline
    config = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", html)
    assert config is not None
    assert '"allowEval":false' in config.group(1)
    assert '"includeIndicatorStyles":false' in config.group(1)
    assert '"historyCacheSize":0' in config.group(1)


async def test_htmx_is_served_with_a_script_type_and_gzipped_when_accepted(client: Client) -> None:
    plain = await client.get(
        "/auth/static/vendor/htmx.min.js", headers={"Accept-Encoding": "identity"}
    )
    assert plain.status == 200
    assert plain.content_type in {"text/javascript", "application/javascript"}
    assert plain.headers["X-Content-Type-Options"] == "nosniff"
    body = await plain.read()
    assert body == (STATIC / "vendor/htmx.min.js").read_bytes()

    zipped = await client.get(
        "/auth/static/vendor/htmx.min.js",
        headers={"Accept-Encoding": "gzip"},
        auto_decompress=False,
    )
    assert zipped.status == 200
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(await zipped.read()) == body

    script = await client.get("/auth/static/authara.js")
    assert script.status == 200
    assert script.content_type in {"text/javascript", "application/javascript"}


async def test_an_error_under_htmx_is_a_toast_and_no_swap(client: Client) -> None:
    await signed_up(client)
    refused = await client.post(
        routes.USERNAME_CHANGE, data={"username": "ada"}, headers=HTMX, allow_redirects=False
    )  # no CSRF token
    html = await refused.text()
    assert refused.status == 403
    assert refused.headers["HX-Reswap"] == "none"
    assert toasts(html) == [("error", "Security check failed. Please refresh and try again.")]
    assert "<h1>" not in html and "<html" not in html


async def test_an_error_without_htmx_is_a_page_without_a_toast(client: Client) -> None:
    await signed_up(client)
    refused = await client.post(
        routes.USERNAME_CHANGE, data={"username": "ada"}, allow_redirects=False
    )
    html = await refused.text()
    assert refused.status == 403
    assert "HX-Reswap" not in refused.headers
    assert html.startswith("<!doctype html>")
    assert '<p class="alert" role="alert">Security check failed.' in html
    assert toasts(html) == [] and "hx-swap-oob" not in html


async def test_an_unknown_page_under_htmx_is_a_toast(client: Client) -> None:
    response = await client.get("/auth/nope", headers=HTMX)
    assert response.status == 404
    assert response.headers["HX-Reswap"] == "none"
    assert toasts(await response.text()) == [("error", "Route not found.")]


@pytest.mark.parametrize(
    ("username", "status", "expected"),
    [
        ("ada_lovelace", 200, ("success", "Your username is now ada_lovelace.")),
        ("a!", 422, ("error", None)),
    ],
)
async def test_the_username_form_answers_the_profile_and_one_toast(
    client: Client, username: str, status: int, expected: tuple[str, str | None]
) -> None:
    token = await signed_up(client)
    response = await client.post(
        routes.USERNAME_CHANGE,
        data={"username": username, "csrf_token": token},
        headers=HTMX,
        allow_redirects=False,
    )
    html = await response.text()
    assert response.status == status
    assert "HX-Reswap" not in response.headers  # the profile is swapped, 422 too
    assert html.lstrip().startswith('<section class="section" id="profile"')
    ((kind, message),) = toasts(html)
    assert kind == expected[0]
    if expected[1] is not None:
        assert message == expected[1]
    else:  # the refusal is also next to the field
        assert f'<p class="field-error" id="username-error" role="alert">{message}</p>' in html
    # The fragment's forms carry the same token the cookie holds: the next post passes.
    assert f'name="csrf_token" value="{token}"' in html


async def test_the_password_form_under_htmx_answers_the_body_and_one_toast(
    client: Client,
) -> None:
    token = await signed_up(client)
    form = {
        "current_password": "correct horse battery",
        "new_password": "a new long passphrase",
        "confirm_password": "a different one",
        "csrf_token": token,
    }
    refused = await client.post(routes.PASSWORD_CHANGE, data=form, headers=HTMX)
    assert refused.status == 422
    assert refused.headers["HX-Retarget"] == "#body"
    assert refused.headers["HX-Push-Url"] == routes.ACCOUNT  # the address stays the page's
    assert toasts(await refused.text()) == [
        ("error", "The passwords do not match. Nothing was changed.")
    ]

    form["confirm_password"] = form["new_password"]
    done = await client.post(routes.PASSWORD_CHANGE, data=form, headers=HTMX)
    html = await done.text()
    assert done.status == 200
    assert done.headers["HX-Retarget"] == "#body"
    assert toasts(html) == [("success", "Your password was changed.")]
    assert html.count("hx-swap-oob") == 1


async def test_a_full_account_page_never_carries_a_toast(client: Client) -> None:
    token = await signed_up(client)
    done = await client.post(
        routes.USERNAME_CHANGE, data={"username": "ada_l", "csrf_token": token}
    )  # redirected (303) to the account page, which shows the flash
    html = await done.text()
    assert done.status == 200 and html.startswith("<!doctype html>")
    assert 'data-testid="flash">Your username is now ada_l.<' in html
    assert "hx-swap-oob" not in html


async def test_the_password_form_swaps_into_the_layout_body(client: Client) -> None:
    await signed_up(client)
    html = await (await client.get(routes.ACCOUNT)).text()
    assert f'hx-post="{routes.PASSWORD_CHANGE}" hx-target="#body"' in html
