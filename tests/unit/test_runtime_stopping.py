"""The stop request and serving until it: real signals sent to this process (restored after)."""

import asyncio
import logging
import os
import signal
import threading
from collections.abc import Iterator

import pytest
from aiohttp import web

from authara_runtime.serving import Listen, serve
from authara_runtime.stopping import (
    STOP_SIGNALS,
    StopRequest,
    stop_requests,
    stop_signals_blocked,
)


@pytest.fixture(autouse=True)
def _restore_signals() -> Iterator[None]:
    handlers = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    yield
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def test_the_first_signal_is_recorded_and_repeats_are_ignored() -> None:
    stop = StopRequest.install()
    heard: list[int] = []
    stop.listen(heard.append)
    assert not stop.requested()
    os.kill(os.getpid(), signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGINT)
    assert stop.signal == signal.SIGTERM
    assert heard == [signal.SIGTERM]


def test_a_listener_hears_a_request_that_came_before_it() -> None:
    stop = StopRequest.install()
    os.kill(os.getpid(), signal.SIGINT)
    heard: list[int] = []
    stop.listen(heard.append)
    assert heard == [signal.SIGINT]


def test_signals_blocked_before_the_handler_are_delivered_to_it() -> None:
    with stop_signals_blocked():
        # Sent to this thread, where it is blocked: a signal sent to the process could be taken
        # by another thread that does not block it (a test runner's), whose default action
        # would kill the process. The program blocks stop signals before it starts a thread.
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)  # pending
        stop = StopRequest.install()  # unblocks
        assert stop.signal == signal.SIGTERM
    assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, [])


async def test_wait_returns_on_a_signal_and_at_once_after_one() -> None:
    stop = StopRequest.install()
    loop = asyncio.get_running_loop()
    loop.call_later(0.01, os.kill, os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(stop.wait(), 10)
    await asyncio.wait_for(stop.wait(), 10)
    assert stop.requested()


def test_after_the_program_the_signals_are_ignored() -> None:
    with stop_requests() as stop:
        assert signal.getsignal(signal.SIGTERM) == stop._record
    assert all(signal.getsignal(sig) == signal.SIG_IGN for sig in STOP_SIGNALS)
    os.kill(os.getpid(), signal.SIGTERM)  # harmless now


def test_release_gives_back_the_default_actions() -> None:
    stop = StopRequest.install()
    stop.release()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# --- serving -------------------------------------------------------------------------------------


def _app(started: list[str], *, signal_on_start: bool = False) -> web.Application:
    app = web.Application()

    async def on_startup(_app: web.Application) -> None:
        started.append("startup")
        if signal_on_start:
            os.kill(os.getpid(), signal.SIGTERM)

    async def on_cleanup(_app: web.Application) -> None:
        started.append("cleanup")

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


async def test_a_stop_before_serving_starts_nothing() -> None:
    stop = StopRequest.install()
    os.kill(os.getpid(), signal.SIGTERM)
    events: list[str] = []
    await serve(_app(events), stop, listen=Listen("127.0.0.1", 0), shutdown_timeout=1.0)
    assert events == []


async def test_a_stop_during_start_up_cleans_up_without_listening(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = StopRequest.install()
    events: list[str] = []
    with caplog.at_level(logging.INFO, logger="authara_runtime.serving"):
        await serve(
            _app(events, signal_on_start=True),
            stop,
            listen=Listen("127.0.0.1", 0),
            shutdown_timeout=1.0,
        )
    assert events == ["startup", "cleanup"]
    assert "listening" not in caplog.text


async def test_serving_ends_on_a_signal_and_drains(caplog: pytest.LogCaptureFixture) -> None:
    stop = StopRequest.install()
    events: list[str] = []
    asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGINT)
    with caplog.at_level(logging.INFO, logger="authara_runtime.serving"):
        await serve(_app(events), stop, listen=Listen("127.0.0.1", 0), shutdown_timeout=1.0)
    assert events == ["startup", "cleanup"]
    assert "listening on 127.0.0.1:0" in caplog.text
    assert "stopping: finishing in-flight requests" in caplog.text
