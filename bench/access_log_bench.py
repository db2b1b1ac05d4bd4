"""CPU per access line: authara_runtime.access_log against a logging.Logger with a handler.

The gateway's throughput on a shared machine swings by tens of percent between runs; the CPU
one line costs does not. This writes lines as a busy server would (64 requests finishing per
event-loop iteration) to /dev/null, both ways, and prints the best of 5 runs:

    .venv/bin/python bench/access_log_bench.py
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable

from authara_runtime.access_log import AccessLog

REQUEST_ID = "0123456789abcdef0123456789abcdef"
USER_ID = "5b0f8a52-3f7c-4b8e-9a51-0c1d2e3f4a5b"
PER_ITERATION = 64
ITERATIONS = 500
RUNS = 5


async def _cpu_per_line(write: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(RUNS):
        start = time.process_time()
        for _ in range(ITERATIONS):
            for _ in range(PER_ITERATION):
                write()
            await asyncio.sleep(0)  # the loop turns: buffered lines are written
        best = min(best, (time.process_time() - start) / (ITERATIONS * PER_ITERATION))
    return best * 1e6


def main() -> None:
    """Measure both ways and print one line."""
    fd = os.open(os.devnull, os.O_WRONLY)
    try:
        with open(os.devnull, "w") as stream:  # noqa: PTH123
            access = AccessLog(fd, json=True, logger="gateway.access")
            logger = logging.getLogger("bench.access")
            logger.propagate = False
            handler = logging.StreamHandler(stream)
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)

            def ours() -> None:
                access.write(
                    request_id=REQUEST_ID,
                    method="GET",
                    route="app",
                    status=200,
                    duration_s=0.00123,
                    user_id=USER_ID,
                )

            def stdlib() -> None:
                logger.info(
                    '%s "%s %s" %d %.6f %s', REQUEST_ID, "GET", "app", 200, 0.00123, USER_ID
                )

            mine = asyncio.run(_cpu_per_line(ours))
            theirs = asyncio.run(_cpu_per_line(stdlib))
    finally:
        os.close(fd)
    print(
        f"access_log.AccessLog: {mine:.2f} us CPU/line; logging.Logger + StreamHandler: "
        f"{theirs:.2f} us CPU/line (best of {RUNS} x {ITERATIONS * PER_ITERATION} lines, "
        f"{PER_ITERATION} per loop iteration)"
    )


if __name__ == "__main__":
    main()
