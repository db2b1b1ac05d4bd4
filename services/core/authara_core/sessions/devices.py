"""What a User-Agent string says about a session's device, OS and browser (for people to read).

Parsing is ua-parser's (the uap-core rules, kept up to date upstream in ua-parser-builtins);
no regexes of our own. Parsed answers are cached per string: a user's sessions mostly share
a handful of User-Agents, and an uncached parse walks hundreds of rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ua_parser import BasicResolver, Cache, CachingResolver, Parser, load_lazy_builtins

CACHE_SIZE: Final = 1024
_UNKNOWN: Final = "Other"


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A User-Agent in words; None where the parser could not tell."""

    device: str | None
    os: str | None
    browser: str | None


def _named(family: str, *versions: str | None) -> str | None:
    if family == _UNKNOWN:
        return None
    version = ".".join(v for v in versions if v)
    return f"{family} {version}" if version else family


class UserAgentParser:
    """Describe User-Agent strings; one per application (the rules load at the first parse)."""

    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        self._parser = Parser(
            CachingResolver(BasicResolver(load_lazy_builtins()), Cache(cache_size))
        )

    def describe(self, user_agent: str) -> DeviceInfo:
        """Name the device, OS (with version) and browser (major version) of a User-Agent."""
        if not user_agent.strip():
            return DeviceInfo(device=None, os=None, browser=None)
        result = self._parser.parse(user_agent).with_defaults()
        agent, system, device = result.user_agent, result.os, result.device
        return DeviceInfo(
            device=_named(device.family),
            os=_named(system.family, system.major, system.minor),
            browser=_named(agent.family, agent.major),
        )
