"""Device, OS and browser named from real User-Agent strings (ua-parser's rules)."""

from __future__ import annotations

import pytest

from authara_core.sessions.devices import DeviceInfo, UserAgentParser

AGENTS = {
    "iPhone Safari": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        DeviceInfo(device="iPhone", os="iOS 17.4", browser="Mobile Safari 17"),
    ),
    "Android Chrome": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Mobile Safari/537.36",
        DeviceInfo(device="Pixel 8", os="Android 14", browser="Chrome Mobile 124"),
    ),
    "Windows Edge": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
        DeviceInfo(device=None, os="Windows 10", browser="Edge 124"),
    ),
    "Mac Firefox": (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:125.0) Gecko/20100101 Firefox/125.0",
        DeviceInfo(device="Mac", os="Mac OS X 10.15", browser="Firefox 125"),
    ),
    "curl": ("curl/8.5.0", DeviceInfo(device=None, os=None, browser="curl 8")),
    "empty": ("", DeviceInfo(device=None, os=None, browser=None)),
    "blank": ("   ", DeviceInfo(device=None, os=None, browser=None)),
    "gibberish": ("\ufffd\x00 ok", DeviceInfo(device=None, os=None, browser=None)),
}


@pytest.fixture(scope="module")
def parser() -> UserAgentParser:
    return UserAgentParser()


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_real_user_agents(parser: UserAgentParser, name: str) -> None:
    agent, expected = AGENTS[name]
    assert parser.describe(agent) == expected


def test_answers_are_cached_and_stable(parser: UserAgentParser) -> None:
    agent, expected = AGENTS["iPhone Safari"]
    assert parser.describe(agent) == parser.describe(agent) == expected


def test_a_long_agent_parses(parser: UserAgentParser) -> None:
    info = parser.describe("Mozilla/5.0 " + "x" * 5000)
    assert isinstance(info, DeviceInfo)
