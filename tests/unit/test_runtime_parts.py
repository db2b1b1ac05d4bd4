"""authara_runtime's small parts: cookies, request ids, logging levels, the health URL."""

import io
import logging

import pytest

from authara_runtime.cookie_header import (
    cookie_pair,
    cookie_value,
    read_cookies,
    rewrite_cookie_header,
)
from authara_runtime.health import local_url
from authara_runtime.logs import LOG_LEVELS, configure_logging
from authara_runtime.request_ids import RequestIds, is_sane_request_id

# --- cookies -------------------------------------------------------------------------------------


def test_session_cookies_are_replaced_removed_or_added_in_place() -> None:
    values = {"authara_access": "new-a", "authara_refresh": "new-r"}

    assert (
        rewrite_cookie_header(["theme=dark; authara_access=old; x=1", "authara_refresh=r"], values)
        == "theme=dark; authara_access=new-a; x=1; authara_refresh=new-r"
    )
    assert rewrite_cookie_header(["authara_refresh=r"], values) == (
        "authara_refresh=new-r; authara_access=new-a"
    )
    assert rewrite_cookie_header(
        ["a=1; authara_access=x; authara_access=y; authara_refresh=z"],
        {"authara_access": None, "authara_refresh": None},
    ) == ("a=1")
    assert rewrite_cookie_header([], {"authara_access": None}) == ""


def test_only_the_wanted_cookies_are_read_first_one_wins() -> None:
    wanted = frozenset({"authara_access", "authara_refresh"})

    assert read_cookies(
        ["theme=dark; authara_access=a1; authara_access=a2", 'authara_refresh="r"; x', "junk"],
        wanted,
    ) == {"authara_access": "a1", "authara_refresh": "r"}
    assert read_cookies(["authara_accessx=1; xauthara_access=2"], wanted) == {}
    assert read_cookies([], wanted) == {}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], None),
        (["a=1; b=2"], None),
        (["authara_access=tok"], "tok"),
        (["a=1;authara_access=tok ; b=2"], "tok"),
        (['authara_access="tok"'], "tok"),
        (["authara_access=first; authara_access=second"], "first"),
        (["x=1", "authara_access=from-second-header"], "from-second-header"),
        (["xauthara_access=no; authara_access_x=no"], None),
        (["authara_access"], None),
        (["authara_access="], ""),
        (["authara_access=a=b"], "a=b"),
    ],
)
def test_one_cookie_is_read_as_the_many_reader_reads_it(
    headers: list[str], expected: str | None
) -> None:
    assert cookie_value(headers, "authara_access") == expected
    assert read_cookies(headers, frozenset({"authara_access"})).get("authara_access") == expected


def test_a_non_ascii_cookie_value_is_skipped() -> None:
    # aiohttp hands undecodable bytes on as lone surrogates; as in Go, such a value is skipped.
    headers = ["authara_refresh=\udced\udca0; other=1", "authara_refresh=good"]
    assert cookie_value(headers, "authara_refresh") == "good"
    assert cookie_value(["authara_refresh=\udced"], "authara_refresh") is None
    assert cookie_value(["authara_refresh=caf\u00e9"], "authara_refresh") is None


def test_set_cookie_pairs() -> None:
    assert cookie_pair("authara_access=abc.def; Path=/; HttpOnly") == ("authara_access", "abc.def")
    assert cookie_pair('authara_refresh=""; Max-Age=0') == ("authara_refresh", "")


# --- request ids ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "incoming",
    [
        "abc\n",  # `^...$` with match lets this through: `$` matches before a final newline
        "",
        "a" * 129,
        "a b",
        "a/b",
        "id\r",
        "\u00e9",
    ],
)
def test_an_insane_incoming_request_id_is_replaced(incoming: str) -> None:
    assert not is_sane_request_id(incoming)
    replaced = RequestIds()(incoming)
    assert replaced != incoming
    assert is_sane_request_id(replaced)


@pytest.mark.parametrize("incoming", ["a", "A-b_c.9", "a" * 128])
def test_a_sane_incoming_request_id_is_kept(incoming: str) -> None:
    assert RequestIds()(incoming) == incoming


def test_new_request_ids_are_unique_and_128_bit_hex() -> None:
    ids = RequestIds()
    made = [ids(None) for _ in range(1000)]  # crosses several batches
    assert len(set(made)) == len(made)
    assert all(len(value) == 32 and int(value, 16) >= 0 for value in made)


# --- logging and health --------------------------------------------------------------------------


def test_log_levels_are_the_log_level_vocabulary() -> None:
    assert LOG_LEVELS == {
        "debug": logging.DEBUG,
        "info": logging.INFO,
        "warn": logging.WARNING,
        "error": logging.ERROR,
    }


def test_configure_logging_returns_the_level_and_refuses_unknown_names() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers.clear()
    try:
        stream = io.StringIO()
        assert configure_logging("warn", stream=stream) == logging.WARNING
        logging.getLogger("authara.test").warning("hello %s", "there")
        assert stream.getvalue().rstrip().endswith("WARNING authara.test: hello there")
    finally:
        root.handlers[:], root.level = saved
    with pytest.raises(KeyError):
        configure_logging("verbose")


@pytest.mark.parametrize(
    ("bind", "host"),
    [("0.0.0.0", "127.0.0.1"), ("::", "127.0.0.1"), ("", "127.0.0.1"), ("10.1.2.3", "10.1.2.3")],
)
def test_the_health_check_asks_this_machine(bind: str, host: str) -> None:
    url = local_url(bind, 3000, "/auth/gateway/health")
    assert (url.host, url.port, url.path) == (host, 3000, "/auth/gateway/health")
