"""Branding by configuration: the app name, a logo and a brand color on every page.

Pages keep the strict Content-Security-Policy: the color arrives as a small stylesheet built
once at start-up (`brand_stylesheet`, served at /auth/brand.css) that overrides authara.css's
custom properties, never as inline style. Contrast follows WCAG 2.x: the buttons' text color
(--on-accent) is whichever of white and near-black reads best on the brand color (pure black
when neither reaches 4.5:1), and links and the focus ring (--link, --focus) take the brand
color only in the color schemes where it reaches 4.5:1 against the page's backgrounds.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from authara_contract import routes

DEFAULT_NAME: Final = "Authara"
MIN_CONTRAST: Final = 4.5  # WCAG 2.x AA, normal text
WHITE: Final = "#ffffff"
NEAR_BLACK: Final = "#14161c"
BLACK: Final = "#000000"
# The backgrounds links sit on (authara.css --card and --bg), per color scheme.
LIGHT_BACKGROUNDS: Final = ("#ffffff", "#f6f7fb")
DARK_BACKGROUNDS: Final = ("#1d2029", "#14161c")
# Files core serves from AUTHARA_BRAND_DIR: images only, with the type fixed by the suffix.
IMAGE_TYPES: Final = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}
BRAND_FILE_PREFIX: Final = routes.BRAND_FILE.removesuffix("{name}")
MAX_NAME_LENGTH: Final = 60
MAX_URL_LENGTH: Final = 2048
_HEX_COLOR: Final = re.compile(r"#[0-9a-fA-F]{6}")
_FILE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_LOCAL_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True, slots=True)
class Brand:
    """What the pages show: `app_name` None and no logo leave them as they always were."""

    app_name: str | None = None
    logo_url: str | None = None
    color: str | None = None  # `#rrggbb`, lower case
    directory: Path | None = None  # AUTHARA_BRAND_DIR, served under /auth/brand/

    @property
    def name(self) -> str:
        """The name in titles and the logo's alt text."""
        return self.app_name or DEFAULT_NAME

    @property
    def header(self) -> bool:
        """Tell whether pages carry a header (only when a name or a logo is configured)."""
        return bool(self.app_name or self.logo_url)

    @property
    def logo_origin(self) -> str | None:
        """The origin the logo loads from when it is not this one (for the CSP's img-src)."""
        if self.logo_url is None or self.logo_url.startswith("/"):
            return None
        parts = urlsplit(self.logo_url)
        return f"{parts.scheme}://{parts.netloc}"


# --- WCAG contrast -------------------------------------------------------------------------


def is_hex_color(value: str) -> bool:
    """Tell whether `value` is `#rrggbb`."""
    return _HEX_COLOR.fullmatch(value) is not None


def relative_luminance(color: str) -> float:
    """WCAG 2.x relative luminance of `#rrggbb`, 0 (black) to 1 (white)."""
    channels = []
    for start in (1, 3, 5):
        c = int(color[start : start + 2], 16) / 255
        channels.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    red, green, blue = channels
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2.x contrast ratio of two colors, 1 to 21."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def text_color_on(background: str) -> str:
    """Choose the button text color for `background`: white or near-black, always >= 4.5:1.

    The better of the two; when neither reaches 4.5:1 (mid-tones around luminance 0.18),
    pure black, which always does there (white below 4.5:1 means luminance > 0.18, and black
    on that is > 4.6:1).
    """
    best = max((WHITE, NEAR_BLACK), key=lambda text: contrast_ratio(text, background))
    return best if contrast_ratio(best, background) >= MIN_CONTRAST else BLACK


def link_color(color: str, backgrounds: tuple[str, ...]) -> str | None:
    """`color` if it reaches 4.5:1 on every one of `backgrounds`, else None (keep the default)."""
    if all(contrast_ratio(color, bg) >= MIN_CONTRAST for bg in backgrounds):
        return color
    return None


def brand_stylesheet(brand: Brand) -> str:
    """Build the CSS served at /auth/brand.css: authara.css's custom properties, overridden."""
    if brand.color is None:
        return "/* no AUTHARA_BRAND_COLOR: authara.css's colors apply */\n"
    # Plain :root comes after authara.css's dark-scheme block: the accent holds in both schemes.
    lines = [
        f":root {{ --accent: {brand.color}; --on-accent: {text_color_on(brand.color)}; }}",
    ]
    for scheme, backgrounds in (("light", LIGHT_BACKGROUNDS), ("dark", DARK_BACKGROUNDS)):
        link = link_color(brand.color, backgrounds)
        if link is None:
            lines.append(f"/* {scheme}: the brand color is below 4.5:1 for links, kept default */")
        else:
            lines.append(
                f"@media (prefers-color-scheme: {scheme}) "
                f"{{ :root {{ --link: {link}; --focus: {link}; }} }}"
            )
    return "\n".join(lines) + "\n"


def stylesheet_version(css: str) -> str:
    """Return a short digest of the stylesheet, for the cache-busting `?v=` of its link."""
    return hashlib.sha256(css.encode()).hexdigest()[:12]


# --- validation (used by settings; each returns the problem, or None) ----------------------


def name_problem(value: str) -> str | None:
    """Why `value` cannot be AUTHARA_APP_NAME, or None."""
    if len(value) > MAX_NAME_LENGTH:
        return f"must be at most {MAX_NAME_LENGTH} characters"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return "must not contain control characters"
    return None


def brand_file_name(path: str) -> str | None:
    """Return the file name in a /auth/brand/<name> path if core may serve it, else None."""
    if not path.startswith(BRAND_FILE_PREFIX):
        return None
    name = path[len(BRAND_FILE_PREFIX) :]
    if _FILE_NAME.fullmatch(name) is None or ".." in name:
        return None
    return name if Path(name).suffix.lower() in IMAGE_TYPES else None


def logo_url_problem(value: str) -> str | None:
    """Why `value` cannot be AUTHARA_BRAND_LOGO_URL, or None.

    Accepted: an https URL; http only to localhost; a same-origin path starting with a single
    `/`. Refused: every other scheme (javascript:, data:, ...), credentials in the URL,
    whitespace, quotes, angle brackets, backslashes and control characters.
    """
    if len(value) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    if any(ord(ch) <= 32 or ord(ch) == 127 or ch in "\"'<>\\`" for ch in value):
        return "must not contain spaces, quotes, angle brackets, backslashes or control characters"
    if value.startswith("/"):
        if value.startswith("//"):
            return "must be an https URL or a path on this origin (not //host)"
        return None
    parts = urlsplit(value)
    remote_https = parts.scheme == "https" and bool(parts.hostname)
    local_http = parts.scheme == "http" and parts.hostname in _LOCAL_HOSTS
    if not (remote_https or local_http):
        return "must be an https URL (http only for localhost) or a path starting with /"
    if parts.username is not None or parts.password is not None:
        return "must not contain credentials"
    return None
