"""Run wrk (a C load generator, so the client does not eat the server's CPU) and parse it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from loadgen import Stats

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def available() -> bool:
    """Tell whether wrk is installed (Debian package `wrk`)."""
    return shutil.which("wrk") is not None


def run_wrk(
    name: str,
    url: str,
    *,
    connections: int,
    duration_s: float,
    script: Path | None = None,
    script_args: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> Stats:
    """Load `url` for `duration_s` with one thread and `connections` connections."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{int(duration_s)}s", "--latency"]
    for key, value in (headers or {}).items():
        command += ["-H", f"{key}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    command.append(url)
    if script_args:
        command += ["--", *script_args]
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=duration_s + 60
    ).stdout
    return _parse(name, output, duration_s)


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"unexpected latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _parse(name: str, output: str, duration_s: float) -> Stats:
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    seconds = float(re.search(r"requests in ([\d.]+)s", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)\s*$", output, re.MULTILINE).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)\s*$", output, re.MULTILINE).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = int(bad.group(1)) if bad else 0
    return Stats(name, requests - errors, errors, seconds or duration_s, p50, p99)
