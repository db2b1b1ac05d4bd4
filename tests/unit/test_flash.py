"""The flash cookie: a refused form's message, its field and the non-secret value typed there."""

from __future__ import annotations

import base64
import json

from aiohttp import web

from authara_core.platform.flash import MAX_VALUE, Flash, parse_flash, set_flash


def _cookie_of(flash: Flash) -> str:
    response = web.Response()
    set_flash(response, flash)
    return str(response.cookies["authara_flash"].value)


def _encoded(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_field_flash_round_trips() -> None:
    refused = Flash("error", "That username is taken.", field="username", value="gRACE")
    assert parse_flash(_cookie_of(refused)) == refused
    again = Flash("error", "Sign in again.", field="delete", reauth=True)
    assert parse_flash(_cookie_of(again)) == again


def test_a_plain_flash_keeps_upstreams_shape() -> None:
    value = _cookie_of(Flash("success", "Done."))
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    assert json.loads(raw) == {"kind": "success", "message": "Done."}


def test_odd_extra_keys_are_ignored_and_long_values_cut() -> None:
    odd = parse_flash(
        _encoded({"kind": "error", "message": "x", "field": 3, "value": ["a"], "reauth": "yes"})
    )
    assert odd == Flash("error", "x")
    long = parse_flash(_encoded({"kind": "error", "message": "x", "value": "v" * 5000}))
    assert long is not None and long.value == "v" * MAX_VALUE
