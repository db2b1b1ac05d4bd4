"""A new passkey's first name, from the browser that made it: "Chrome on macOS • Jan 2026".

The browser and OS come from ua-parser (the uap-core rules, as sessions/devices.py uses); a
client's `platform_hint` (navigator.userAgentData.platform, which frozen User-Agents no longer
tell) wins over the OS the User-Agent names. The owner can rename it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from ua_parser import BasicResolver, Cache, CachingResolver, Parser, load_lazy_builtins

DEFAULT_NAME: Final = "Passkey"
MAX_NAME: Final = 100
_HINT_MAX: Final = 40
_UNKNOWN: Final = "Other"
# uap-core's family names, as people call them today.
_OS_NAMES: Final = {"Mac OS X": "macOS", "Chrome OS": "ChromeOS"}
_BROWSER_NAMES: Final = {
    "Mobile Safari": "Safari",
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "HeadlessChrome": "Chrome",
    "Firefox Mobile": "Firefox",
    "Edge Mobile": "Edge",
}


def clean_name(name: str) -> str:
    """Collapse whitespace; the caller refuses a blank or over-long result."""
    return " ".join(name.split())


class PasskeyNamer:
    """Name passkeys after the browser and OS of the User-Agent that registered them."""

    def __init__(self, cache_size: int = 256) -> None:
        self._parser = Parser(
            CachingResolver(BasicResolver(load_lazy_builtins()), Cache(cache_size))
        )

    def name(self, user_agent: str, *, platform_hint: str | None, now: datetime) -> str:
        """Return "<browser> on <OS> • <Mon YYYY>", leaving out what is unknown."""
        browser = system = None
        if user_agent.strip():
            result = self._parser.parse(user_agent).with_defaults()
            if result.user_agent.family != _UNKNOWN:
                family = result.user_agent.family
                browser = _BROWSER_NAMES.get(family, family)
            if result.os.family != _UNKNOWN:
                system = _OS_NAMES.get(result.os.family, result.os.family)
        hint = clean_name(platform_hint or "")[:_HINT_MAX]
        if hint:
            system = _OS_NAMES.get(hint, hint)
        what = f"{browser} on {system}" if browser and system else browser or system
        what = what or DEFAULT_NAME
        return f"{what} • {now:%b %Y}"[:MAX_NAME]
