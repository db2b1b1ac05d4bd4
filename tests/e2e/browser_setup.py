"""Find or install the Chromium the browser tests drive, and fail loudly when there is none.

Run `python -m tests.e2e.browser_setup` before the e2e suite (the Makefile does): it uses a
system Chromium (AUTHARA_CHROMIUM, then chromium, chromium-browser, google-chrome on PATH),
else Playwright's own build, installing it with `python -m playwright install chromium` when
missing. It launches the browser once to prove it works and exits 1 with instructions when it
cannot. Browser tests never skip: their fixture fails with the same instructions.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Final

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

ENV_VAR: Final = "AUTHARA_CHROMIUM"
SYSTEM_NAMES: Final = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_ARGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
INSTALL_HELP: Final = (
    "No Chromium found for the browser tests. Install one with\n"
    "    apt-get install chromium            (Debian/Ubuntu system package)\n"
    "or  python -m playwright install chromium   (Playwright's own build)\n"
    f"or point {ENV_VAR} at a Chromium or Chrome binary."
)


class BrowserSetupError(RuntimeError):
    """No usable Chromium."""


def find_system_chromium() -> Path | None:
    """Return $AUTHARA_CHROMIUM or the first Chromium/Chrome on PATH; raise if the variable lies."""
    configured = os.environ.get(ENV_VAR, "").strip()
    if configured:
        path = Path(configured)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise BrowserSetupError(f"{ENV_VAR}={configured} is not an executable file")
        return path
    for name in SYSTEM_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def find_playwright_chromium() -> Path | None:
    """Return Playwright's own Chromium when it is installed."""
    with sync_playwright() as playwright:
        path = Path(playwright.chromium.executable_path)
    return path if path.is_file() else None


def find_chromium() -> Path | None:
    """Return a system Chromium, else Playwright's, else None."""
    return find_system_chromium() or find_playwright_chromium()


def install_playwright_chromium() -> bool:
    """Run `python -m playwright install chromium`; return whether it succeeded."""
    print("browser_setup: no Chromium found; running `python -m playwright install chromium`")
    result = subprocess.run(
        [sys.executable, "-m", "playwright", "install", "chromium"], check=False
    )
    return result.returncode == 0


def check_launch(executable: Path) -> str:
    """Start the browser headless once and return its version."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=list(CHROMIUM_ARGS), headless=True
        )
        try:
            return browser.version
        finally:
            browser.close()


def ensure_chromium() -> Path:
    """Find a Chromium, installing Playwright's when there is none; raise when that fails."""
    found = find_chromium()
    if found is None and install_playwright_chromium():
        found = find_playwright_chromium()
    if found is None:
        raise BrowserSetupError(INSTALL_HELP)
    return found


def main() -> int:
    """Make sure the browser tests have a Chromium that starts; explain how to get one if not."""
    try:
        executable = ensure_chromium()
        version = check_launch(executable)
    except (BrowserSetupError, PlaywrightError) as exc:
        print(f"browser_setup: {exc}", file=sys.stderr)
        if not isinstance(exc, BrowserSetupError):
            print(INSTALL_HELP, file=sys.stderr)
        return 1
    print(f"browser_setup: Chromium {version} at {executable}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
