"""End-to-end fixtures: a real `authara dev` stack and a headless Chromium driving it.

The stack uses the test PostgreSQL server when AUTHARA_TEST_DATABASE_URL names one (a fresh
database per stack), and otherwise lets `authara dev` start its embedded PostgreSQL in a
temporary data dir, exactly as a developer runs it.

Playwright's sync API marks its own event loop as running in this thread while it is alive,
so the browser lives for this package only and every e2e test is synchronous.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from authara_contract.database import DatabaseSettings
from authara_devstack.embedded_pg import free_port
from tests.dbutil import fresh_database

from .browser_setup import CHROMIUM_ARGS, INSTALL_HELP, BrowserSetupError, find_chromium
from .devstack_process import (
    FAST_HASHING,
    DevStackProcess,
    database_environ,
    hermetic_environ,
    running_dev_stack,
)

SERVER_URL_VARIABLE = "AUTHARA_TEST_DATABASE_URL"
PAGE_TIMEOUT_MS = 20_000
StackStarter = Callable[..., DevStackProcess]
ContextOpener = Callable[..., BrowserContext]


def _external_server_url() -> str | None:
    return os.environ.get(SERVER_URL_VARIABLE) or None


@pytest.fixture
def stack_database() -> Iterator[DatabaseSettings | None]:
    """Yield a fresh database on the test server, or None to use the embedded PostgreSQL."""
    server_url = _external_server_url()
    if server_url is None:
        yield None
        return
    with fresh_database(server_url) as db:
        yield db


@pytest.fixture
def stack_environ(stack_database: DatabaseSettings | None) -> dict[str, str]:
    """Return the environment for one `authara dev`, without the caller's Authara settings."""
    return hermetic_environ(**FAST_HASHING, **database_environ(stack_database))


@contextmanager
def _running_stack(
    tmp_path_factory: pytest.TempPathFactory, settings: Mapping[str, str]
) -> Iterator[DevStackProcess]:
    """Run one `authara dev` on a fresh database (test server or embedded) with `settings`."""
    server_url = _external_server_url()
    data_dir = tmp_path_factory.mktemp("authara-dev")
    if server_url is None:
        environ = hermetic_environ(**FAST_HASHING, **settings)
        with running_dev_stack(free_port(), data_dir, environ) as stack:
            yield stack
        return
    with fresh_database(server_url) as db:
        environ = hermetic_environ(**FAST_HASHING, **database_environ(db), **settings)
        with running_dev_stack(free_port(), data_dir, environ) as stack:
            yield stack


@pytest.fixture(scope="package")
def dev_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStackProcess]:
    """Run one `authara dev` for the browser and health tests of this package."""
    with _running_stack(tmp_path_factory, {}) as stack:
        yield stack


@pytest.fixture(scope="module")
def start_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackStarter]:
    """Start stacks with settings of their own (organization mode...); they stop after the module.

    Each is a fresh database: the organization mode is pinned there on first start.
    """
    with ExitStack() as stacks:

        def start(**settings: str) -> DevStackProcess:
            return stacks.enter_context(_running_stack(tmp_path_factory, settings))

        yield start


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Launch headless Chromium (system binary, else Playwright's); fail if there is none."""
    try:
        executable = find_chromium()
    except BrowserSetupError as exc:
        pytest.fail(f"{exc}\n{INSTALL_HELP}", pytrace=False)
    if executable is None:
        pytest.fail(INSTALL_HELP, pytrace=False)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, args=list(CHROMIUM_ARGS), headless=True
        )
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser, dev_stack: DevStackProcess) -> Iterator[BrowserContext]:
    """Open a fresh browser profile (no cookies) aimed at the stack's gateway."""
    ctx = browser.new_context(base_url=dev_stack.base_url)
    ctx.set_default_timeout(PAGE_TIMEOUT_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """Open a tab in the fresh profile."""
    return context.new_page()


@pytest.fixture
def open_context(browser: Browser) -> Iterator[ContextOpener]:
    """Open fresh browser profiles aimed at a given stack's gateway; they close after the test.

    Keyword arguments go to `Browser.new_context` (java_script_enabled, color_scheme, ...).
    """
    opened: list[BrowserContext] = []

    def open_(stack: DevStackProcess, **options: Any) -> BrowserContext:
        ctx = browser.new_context(base_url=stack.base_url, **options)
        ctx.set_default_timeout(PAGE_TIMEOUT_MS)
        opened.append(ctx)
        return ctx

    yield open_
    for ctx in opened:
        ctx.close()
