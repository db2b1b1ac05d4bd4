"""docs/tls.md: the Caddyfile and nginx examples say what the gateway needs.

The blocks are read out of the page as a reader copies them. No proxy runs here (a fresh
checkout has neither Caddy nor nginx): the checks are on the lines that matter, against the
contract's environment table (the gateway's port, its read timeout, the variable names).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

import pytest

from authara_contract.env import BY_NAME, Service, lookup, parse_duration, parse_host_port
from tests.deploy.layout import COMPOSE_FILE, OPERATIONS_DOC, REPO_ROOT

TLS_DOC: Final = REPO_ROOT / "docs" / "tls.md"
_FENCE: Final = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)
_ENV_NAME: Final = re.compile(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(?:=[^`]*)?`")


def _block(text: str, language: str) -> str:
    blocks = [m["body"] for m in _FENCE.finditer(text) if m["lang"] == language]
    assert len(blocks) == 1, f"expected one ```{language} block, found {len(blocks)}"
    return blocks[0]


def nginx_directives(config: str) -> Iterator[tuple[tuple[str, ...], list[str]]]:
    """Yield (enclosing blocks, directive words) for each `name args;` of an nginx config.

    Enough of nginx's syntax for the examples: comments, blocks, single-quoted '' values.
    """
    text = re.sub(r"#[^\n]*", "", config)
    stack: list[str] = []
    for token in re.findall(r"[^;{}]+[;{]|}", text):
        if token == "}":
            assert stack, "unbalanced }"
            stack.pop()
            continue
        words = token[:-1].split()
        if token.endswith("{"):
            stack.append(" ".join(words))
        elif words:
            yield tuple(stack), words
    assert not stack, f"unclosed block {stack}"


def _gateway_port() -> int:
    default = BY_NAME["GATEWAY_BIND"].default
    assert default is not None
    return parse_host_port(default)[1]


@pytest.fixture(scope="module")
def doc() -> str:
    return TLS_DOC.read_text(encoding="utf-8")


def test_operations_links_the_tls_page() -> None:
    assert "](tls.md)" in OPERATIONS_DOC.read_text(encoding="utf-8")


def test_caddy_sends_everything_to_the_gateway(doc: str) -> None:
    config = re.sub(r"#[^\n]*", "", _block(doc, "caddyfile"))
    lines = [line.strip() for line in config.splitlines() if line.strip()]

    proxies = [line.split()[1:] for line in lines if line.split()[0] == "reverse_proxy"]
    assert proxies == [[f"127.0.0.1:{_gateway_port()}"]]
    # One site block for everything: no path matcher sends part of the site elsewhere.
    assert lines[0].endswith("{")
    assert lines[-1] == "}"
    assert lines.count("}") == 1
    # Caddy's defaults already send X-Forwarded-For/-Proto/-Host and the Host; overriding
    # them, or compressing what the gateway compresses, is what the page says to leave out.
    assert not any(line.startswith(("header_up", "encode")) for line in lines)


def test_nginx_sends_everything_to_the_gateway_with_the_forwarding_headers(doc: str) -> None:
    directives = list(nginx_directives(_block(doc, "nginx")))
    in_location = {}
    headers = {}
    for blocks, words in directives:
        if blocks and blocks[-1] == "location /":
            in_location.setdefault(words[0], []).append(words[1:])
            if words[0] == "proxy_set_header":
                headers[words[1].lower()] = words[2]

    assert in_location["proxy_pass"] == [[f"http://127.0.0.1:{_gateway_port()}"]]
    assert in_location["proxy_http_version"] == [["1.1"]]
    assert headers == {
        "host": "$host",
        # Appends the client to its chain: the gateway (trusting nginx) hands core that entry.
        "x-forwarded-for": "$proxy_add_x_forwarded_for",
        "x-forwarded-proto": "$scheme",
        "x-forwarded-host": "$host",
        "upgrade": "$http_upgrade",
        "connection": "$connection_upgrade",
    }
    assert in_location["proxy_buffering"] == [["off"]]
    assert in_location["proxy_request_buffering"] == [["off"]]


def test_nginx_defines_the_upgrade_map_and_terminates_tls(doc: str) -> None:
    directives = list(nginx_directives(_block(doc, "nginx")))
    maps = {
        blocks[-1]: words for blocks, words in directives if blocks[-1:] and "map" in blocks[-1]
    }
    listens = [words[1:] for blocks, words in directives if words[0] == "listen"]
    certificates = {words[0] for _blocks, words in directives if words[0].startswith("ssl_cert")}

    assert "map $http_upgrade $connection_upgrade" in maps
    assert ["443", "ssl", "http2"] in listens
    assert certificates == {"ssl_certificate", "ssl_certificate_key"}
    redirects = [words for _blocks, words in directives if words[0] == "return"]
    assert redirects == [["return", "301", "https://$host$request_uri"]]


def test_nginx_outwaits_the_gateways_read_timeout(doc: str) -> None:
    default = BY_NAME["GATEWAY_READ_TIMEOUT"].default
    assert default is not None
    gateway = parse_duration(default).total_seconds()
    for _blocks, words in nginx_directives(_block(doc, "nginx")):
        if words[0] in ("proxy_read_timeout", "proxy_send_timeout"):
            assert words[1].endswith("s")
            assert float(words[1][:-1]) > gateway, words


def test_the_variables_to_set_exist_for_the_services_named(doc: str) -> None:
    table = doc.split("## What to set", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:-1] for line in table.splitlines() if line.startswith("| `")]
    compose = COMPOSE_FILE.read_text(encoding="utf-8")

    named = {}
    for variable, where, value, _why in (cells for cells in rows if len(cells) == 4):
        name = variable.strip().strip("`")
        named[name] = value
        if where.strip() == "compose":
            assert f"${{{name}:-" in compose, f"{name} is not a compose variable"
            continue
        services = {Service(part.strip()) for part in where.replace(" and ", ",").split(",")}
        assert name in BY_NAME, f"{name} is not in the contract's environment table"
        assert services <= BY_NAME[name].services, f"{name} is not read by {services}"

    # The trusted-proxy variable is the gateway's, and the origin is https.
    assert "GATEWAY_TRUSTED_PROXIES" in named
    assert Service.GATEWAY in BY_NAME["GATEWAY_TRUSTED_PROXIES"].services
    assert "`https://" in named["PUBLIC_URL"]
    assert "`prod`" in named["APP_ENV"]


def test_every_variable_the_page_names_exists(doc: str) -> None:
    compose = COMPOSE_FILE.read_text(encoding="utf-8")
    unknown = {
        name
        for name in _ENV_NAME.findall(doc)
        if lookup(name) is None and f"${{{name}:-" not in compose
    }

    assert unknown == set()


def test_the_nginx_reader_finds_directives_in_their_blocks() -> None:
    config = "map $a $b {\n  default x; '' y;\n}\nserver { # c; {\n  location / { a 1; }\n}\n"

    assert list(nginx_directives(config)) == [
        (("map $a $b",), ["default", "x"]),
        (("map $a $b",), ["''", "y"]),
        (("server", "location /"), ["a", "1"]),
    ]
    with pytest.raises(AssertionError, match="unclosed"):
        list(nginx_directives("server { a 1;"))
