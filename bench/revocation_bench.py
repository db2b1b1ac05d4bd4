"""Measure what the gateway's access-token revocation check costs (issue 17: ≤ 10%).

Starts a trivial upstream (nginx answering `200 ok`), a redis-server, and two gateways with
identity verification: one with `AUTHARA_CACHE_PROVIDER=noop` (today's behaviour) and one with
`AUTHARA_CACHE_PROVIDER=redis` (revocation checked: pub/sub subscriber plus one MGET per new
token, then memory). Each is loaded by wrk with a signed-in cookie and with the same bytes
under a cookie name it does not verify (the baseline for the identity overhead), in
interleaved rounds; medians are printed as a Markdown table with:

- the identity overhead with revocation off and on (signed in vs the unverified cookie, on
  the same process), and the two processes compared signed in;
- the in-process time of the hot path (verify, and verify + revocation check), which does
  not depend on how busy the machine is.

    .venv/bin/python bench/revocation_bench.py                 # about 1 minute
    .venv/bin/python bench/revocation_bench.py --rounds 1 --duration 3

Needs wrk, nginx and redis-server (Debian: `apt-get install wrk nginx redis-server`).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import redis

from authara_contract.routes import GATEWAY_HEALTH
from authara_contract.tokens import KeySet
from authara_gateway.identity import IdentityVerifier
from authara_gateway.revocation import Revocations
from authara_gateway.settings import IdentitySettings
from authara_runtime.cache import RedisSettings
from gateway_bench import (
    ISSUER,
    KEY,
    Sample,
    Target,
    _access_token,
    _free_port,
    _gateway,
    _measure,
    _nginx_upstream,
    _Process,
    _wait_http,
)

ANONYMOUS = "revocation off (noop), unverified cookie"
SIGNED_IN = "revocation off (noop), signed in"
REVOCATION_ANONYMOUS = "revocation on (redis), unverified cookie"
REVOCATION = "revocation on (redis), signed in"


def main() -> int:
    """Run the benchmark and print the table."""
    args = _arguments()
    missing = [tool for tool in ("wrk", "nginx", "redis-server") if shutil.which(tool) is None]
    if missing:
        print(f"missing {', '.join(missing)}: apt-get install {' '.join(missing)}")
        return 2
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="revocation-bench-") as tmp:
        work = Path(tmp)

        def start(command: tuple[list[str], dict[str, str] | None], log: str) -> int:
            return stack.enter_context(_Process(command, work / log)).pid

        upstream = _free_port()
        start(_nginx_upstream(work, upstream), "upstream.log")
        _wait_http(upstream, "/")
        redis_port = _free_port()
        start(_redis(work, redis_port), "redis.log")
        _wait_redis(redis_port)
        cookie = f"Cookie: authara_access={_access_token()}"
        plain_port = _free_port()
        plain = start(_gateway(plain_port, upstream, args.workers, identity=True), "plain.log")
        checked_port = _free_port()
        argv, env = _gateway(checked_port, upstream, args.workers, identity=True)
        env.update(
            AUTHARA_CACHE_PROVIDER="redis",
            AUTHARA_REDIS_HOST="127.0.0.1",
            AUTHARA_REDIS_PORT=str(redis_port),
        )
        checked = start((argv, env), "checked.log")
        unverified = cookie.replace("authara_", "unknown_")
        targets = [
            Target(ANONYMOUS, plain_port, (plain,), (unverified,)),
            Target(SIGNED_IN, plain_port, (plain,), (cookie,)),
            Target(REVOCATION_ANONYMOUS, checked_port, (checked,), (unverified,)),
            Target(REVOCATION, checked_port, (checked,), (cookie,)),
        ]
        for target in targets:
            _wait_http(target.port, GATEWAY_HEALTH)
        results = _measure(targets, args)
        micro = asyncio.run(_hot_path(redis_port))
    _report(results, args)
    print(
        f"in-process hot path (a signed-in user's next request): verify {micro[0]:.2f} us, "
        f"verify + revocation check {micro[1]:.2f} us per request"
    )
    return 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--duration", type=int, default=4, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--workers", type=int, default=1, help="GATEWAY_WORKERS (default 1)")
    args = parser.parse_args()
    if not (1 <= args.rounds <= 10 and 1 <= args.duration <= 30):
        parser.error("keep it bounded: --rounds 1..10, --duration 1..30")
    return args


def _report(results: dict[str, list[Sample]], args: argparse.Namespace) -> None:
    def median(name: str, field: str) -> float:
        return statistics.median(getattr(sample, field) for sample in results[name])

    def throughput(name: str, base: str) -> float:
        pairs = zip(results[name], results[base], strict=True)
        return statistics.median(mine.rps / other.rps for mine, other in pairs)

    def cpu(name: str, base: str) -> float:
        return median(name, "cpu_us") / median(base, "cpu_us")

    print()
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, GATEWAY_WORKERS="
        f"{args.workers}, median of {args.rounds} interleaved round(s)"
    )
    print("| target | req/s | p50 ms | p99 ms | gateway CPU us/req |")
    print("|---|---:|---:|---:|---:|")
    for name in (ANONYMOUS, SIGNED_IN, REVOCATION_ANONYMOUS, REVOCATION):
        print(
            f"| {name} | {median(name, 'rps'):.0f} | {median(name, 'p50_ms'):.2f} | "
            f"{median(name, 'p99_ms'):.2f} | {median(name, 'cpu_us'):.0f} |"
        )
    print()
    pairs = ((SIGNED_IN, ANONYMOUS, "off"), (REVOCATION, REVOCATION_ANONYMOUS, "on"))
    for name, base, label in pairs:
        print(
            f"identity overhead, revocation {label} (same process): throughput "
            f"{throughput(name, base):.3f}x the unverified cookie's, CPU per request "
            f"{cpu(name, base):.3f}x"
        )
    print(
        f"across processes, signed in: throughput {throughput(REVOCATION, SIGNED_IN):.3f}x "
        f"revocation off, CPU per request {cpu(REVOCATION, SIGNED_IN):.3f}x"
    )


async def _hot_path(redis_port: int, calls: int = 200_000) -> tuple[float, float]:
    """Time, in this process, the identity step alone and with the revocation check."""
    keys = KeySet(keys={"bench": KEY}, active_kid="bench")
    verifier = IdentityVerifier(IdentitySettings(keys=keys, issuer=ISSUER))
    token = _access_token()
    identity = verifier.verify(token)
    assert identity is not None
    revocations = Revocations(RedisSettings("127.0.0.1", redis_port, None).client())
    revocations.start()
    try:
        for _ in range(1000):  # at most 10 s for the subscription
            if revocations.subscribed:
                break
            await asyncio.sleep(0.01)
        assert revocations.subscribed, "the revocation subscription never came up"
        assert not await revocations.look_up(token, identity.claims)

        def plain() -> None:
            verifier.verify(token)

        def checked() -> None:
            if verifier.verify(token) is not None:
                revocations.known(token)

        def timed(step: Callable[[], None]) -> float:
            best = float("inf")
            for _ in range(5):
                start = time.perf_counter()
                for _ in range(calls):
                    step()
                best = min(best, time.perf_counter() - start)
            return best / calls * 1e6

        return timed(plain), timed(checked)
    finally:
        await revocations.close()


def _redis(work: Path, port: int) -> tuple[list[str], None]:
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    return [*argv, "--appendonly", "no", "--dir", str(work)], None


def _wait_redis(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with redis.Redis(host="127.0.0.1", port=port, socket_timeout=2) as client:
                if client.ping():
                    return
        except redis.RedisError:
            time.sleep(0.1)
    raise RuntimeError(f"redis-server on 127.0.0.1:{port} does not answer")


if __name__ == "__main__":
    raise SystemExit(main())
