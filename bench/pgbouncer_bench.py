"""What PgBouncer's transaction pooling costs core: the same load direct and through PgBouncer.

    .venv/bin/python bench/pgbouncer_bench.py [--url postgresql://postgres@127.0.0.1:5432/postgres]
                                              [--clients 20] [--duration 5] [--rounds 2]

Creates a database on the server `--url` names (trust auth on 127.0.0.1; dropped afterwards),
runs Debian's /usr/sbin/pgbouncer in transaction pooling mode in front of it (as `postgres`
when run as root), then in interleaved rounds starts a real `authara-core` (one worker, a pool
of 10) either directly on PostgreSQL or through PgBouncer with AUTHARA_DB_PGBOUNCER=true, and
drives `GET /auth/api/v1/user` and then `POST /auth/api/v1/tokens/refresh` from `--clients`
concurrent clients for `--duration` seconds each. Prints requests per second per round.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.coresupport import core_env, core_process
from tests.dbutil import drop_database, make_database, random_database_name

from authara_contract.database import DatabaseSettings
from authara_devstack.embedded_pg import free_port
from authara_migrations import runner

PASSWORD = "correct horse battery"  # noqa: S105 (a bench account)


@contextmanager
def pgbouncer(db: DatabaseSettings) -> Iterator[int]:
    """Run PgBouncer (transaction pooling, 10 server connections); yield its port."""
    user = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="authara-pgbouncer-bench-"))
    port = free_port()
    (folder / "userlist.txt").write_text(f'"{db.username}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        f"[databases]\n* = host={db.host} port={db.port}\n[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'userlist.txt'}\npool_mode = transaction\n"
        f"default_pool_size = 10\nmax_client_conn = 200\nlogfile = {folder / 'pgbouncer.log'}\n"
    )
    if user is not None:
        for path in (folder, *folder.iterdir()):
            os.chown(path, user.pw_uid, user.pw_gid)
    process = subprocess.Popen(
        ["/usr/sbin/pgbouncer", str(folder / "pgbouncer.ini")],
        user=user.pw_name if user is not None else None,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("pgbouncer did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait()
        shutil.rmtree(folder, ignore_errors=True)


async def drive(port: int, clients: int, duration: float) -> tuple[float, float]:
    """Sign `clients` users up, then return GET /user and refresh requests per second."""
    base = f"http://127.0.0.1:{port}/auth/api/v1"
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        tokens: list[list[str]] = []
        for index in range(clients):
            async with http.get(base + "/csrf") as response:
                csrf = (await response.json())["csrf_token"]
            async with http.post(
                base + "/signup/direct",
                json={"email": f"bench{index}-{port}@example.com", "password": PASSWORD},
                headers={"X-CSRF-Token": csrf},
            ) as response:
                refresh = (await response.json())["refresh_token"]
            async with http.post(base + "/tokens/refresh", json={"refresh_token": refresh}) as r:
                body = await r.json()
            tokens.append([body["access_token"], body["refresh_token"]])

        async def users(token: list[str], end: float) -> int:
            done = 0
            headers = {"Authorization": f"Bearer {token[0]}"}
            while time.monotonic() < end:
                async with http.get(base + "/user", headers=headers) as response:
                    assert response.status == 200, await response.text()
                done += 1
            return done

        async def refreshes(token: list[str], end: float) -> int:
            done = 0
            while time.monotonic() < end:
                async with http.post(
                    base + "/tokens/refresh", json={"refresh_token": token[1]}
                ) as response:
                    assert response.status == 200, await response.text()
                    token[1] = (await response.json())["refresh_token"]
                done += 1
            return done

        rates = []
        for work in (users, refreshes):
            start = time.monotonic()
            counts = await asyncio.gather(*(work(t, start + duration) for t in tokens))
            rates.append(sum(counts) / (time.monotonic() - start))
        return rates[0], rates[1]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    db = make_database(args.url, random_database_name("authara_pgbouncer_bench"))
    try:
        runner.upgrade(db)
        with pgbouncer(db) as bouncer_port:
            modes = {
                "direct": core_env(db, LOG_LEVEL="error"),
                "pgbouncer": core_env(
                    replace(db, port=bouncer_port), AUTHARA_DB_PGBOUNCER="true", LOG_LEVEL="error"
                ),
            }
            for round_index in range(args.rounds):
                for name, env in modes.items():
                    port = free_port()
                    async with core_process({**env, "AUTHARA_DB_MAX_OPEN_CONNS": "10"}, port=port):
                        user_rate, refresh_rate = await drive(port, args.clients, args.duration)
                    print(
                        f"round {round_index} {name:9}: GET /user {user_rate:6.0f}/s"
                        f"  refresh {refresh_rate:5.0f}/s",
                        flush=True,
                    )
    finally:
        drop_database(args.url, db.database)


if __name__ == "__main__":
    asyncio.run(main())
