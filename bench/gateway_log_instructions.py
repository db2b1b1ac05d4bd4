"""Instructions the gateway executes per proxied request with its access log and metrics on/off.

    .venv/bin/python bench/gateway_log_instructions.py [--requests 2000]   # ~4 min; valgrind

gateway_bench.py's req/s and CPU time move with whatever else the machine runs; callgrind's
instruction counts do not. One gateway worker runs under callgrind with counting off, is
warmed up, then counts exactly N sequential keep-alive GETs proxied to a trivial aiohttp
upstream (in this process, not counted), once per configuration:

  LOG_LEVEL=warn                                 no access log (the baseline)
  LOG_LEVEL=info LOG_FORMAT=json                 one JSON access line per request
  the same with GATEWAY_METRICS_BIND set         access line and Prometheus metrics

Kernel work (the batched write of the lines) is not counted; the lines go to /dev/null.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))

from authara_contract.env import BY_NAME
from authara_contract.routes import GATEWAY_HEALTH
from authara_devstack.embedded_pg import free_port
from core_instructions import count_http

GATEWAY = Path(sys.executable).parent / "authara-gateway"
LOOPBACK = "127.0.0.1"


async def _ok(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


def _configurations(metrics_port: int) -> dict[str, dict[str, str]]:
    return {
        "no access log (LOG_LEVEL=warn)": {"LOG_LEVEL": "warn"},
        "access log (LOG_LEVEL=info, LOG_FORMAT=json)": {"LOG_LEVEL": "info", "LOG_FORMAT": "json"},
        "access log and metrics (GATEWAY_METRICS_BIND)": {
            "LOG_LEVEL": "info",
            "LOG_FORMAT": "json",
            "GATEWAY_METRICS_BIND": f"{LOOPBACK}:{metrics_port}",
        },
    }


async def _measure(requests: int, tmp: Path) -> dict[str, float]:
    upstream_app = web.Application()
    upstream_app.router.add_get("/{tail:.*}", _ok)
    runner = web.AppRunner(upstream_app, access_log=None)
    await runner.setup()
    upstream = free_port()
    await web.TCPSite(runner, LOOPBACK, upstream).start()
    results: dict[str, float] = {}
    try:
        for name, overrides in _configurations(free_port()).items():
            port = free_port()
            env = {key: value for key, value in os.environ.items() if key not in BY_NAME}
            env.update(
                GATEWAY_BIND=f"{LOOPBACK}:{port}",
                AUTHARA_UPSTREAM=f"{LOOPBACK}:{upstream}",
                APP_UPSTREAM=f"{LOOPBACK}:{upstream}",
                APP_ENV="prod",
                **overrides,
            )
            url = f"http://{LOOPBACK}:{port}/bench"

            async def prepare(
                http: aiohttp.ClientSession, url: str = url
            ) -> Callable[[], Awaitable[None]]:
                async def call() -> None:
                    async with http.get(url) as response:
                        await response.read()

                return call

            results[name] = await count_http(
                tmp / f"gateway-{port}.out",
                [str(GATEWAY)],
                env,
                f"http://{LOOPBACK}:{port}{GATEWAY_HEALTH}",
                prepare,
                requests,
            )
            print(f"{name}: {results[name] / 1000:.1f} k instructions/request", flush=True)
    finally:
        await runner.cleanup()
    return results


def main() -> None:
    """Count each configuration and print the differences to the baseline."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="counted requests each")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gateway-log-instr-") as tmp:
        results = asyncio.run(_measure(args.requests, Path(tmp)))
    base = next(iter(results.values()))
    print(f"\ninstructions per proxied request, callgrind, {args.requests} sequential requests")
    print("| configuration | k instr/req | vs no access log |")
    print("|---|---:|---:|")
    for name, count in results.items():
        print(f"| {name} | {count / 1000:.1f} | {(count / base - 1) * 100:+.1f}% |")


if __name__ == "__main__":
    main()
