"""The embedded PostgreSQL from a private folder: it runs, persists, cleans up, changes no mode.

As root the server runs as an unprivileged user, from a shared copy of its binaries and, when
the data dir's parents are closed to that user, from a relocated cluster; as any other user
it runs in place. The assertions hold either way.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import tempfile
import threading
from pathlib import Path

import psycopg
import pytest

from authara_devstack import pg_home
from authara_devstack.embedded_pg import EmbeddedPostgres, free_port


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _another_user() -> pwd.struct_passwd:
    return next(user for user in pwd.getpwall() if user.pw_uid not in (0, os.geteuid()))


@pytest.fixture
def private_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "private"
    folder.mkdir()
    folder.chmod(0o700)
    return folder


def test_a_throwaway_server_in_a_private_folder_runs_and_leaves_nothing(private_dir: Path) -> None:
    server = EmbeddedPostgres(private_dir / "data", free_port(), durable=False)
    server.start()
    try:
        cluster = server.pgdata.resolve()
        with psycopg.connect(server.url(), connect_timeout=10) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.stop()

    assert _mode(private_dir) == 0o700
    assert not cluster.exists()
    assert not server.pgdata.exists()
    assert not server.pgdata.is_symlink()


def test_a_durable_server_keeps_its_data_and_its_binaries_across_restarts(
    private_dir: Path,
) -> None:
    data_dir = private_dir / "data"
    with EmbeddedPostgres(data_dir, free_port()) as first:
        with psycopg.connect(first.url(), autocommit=True, connect_timeout=10) as conn:
            conn.execute("CREATE TABLE kept (id int)")
        install = first.install_dir
        assert install is not None
        copied_at = install.stat().st_mtime_ns

    with EmbeddedPostgres(data_dir, free_port()) as second:
        with psycopg.connect(second.url(), connect_timeout=10) as conn:
            assert conn.execute("SELECT to_regclass('kept') IS NOT NULL").fetchone() == (True,)
        assert second.install_dir == install
        assert install.stat().st_mtime_ns == copied_at
    second.discard()

    assert _mode(private_dir) == 0o700


def test_a_cluster_whose_data_dir_was_deleted_is_removed_later(private_dir: Path) -> None:
    with EmbeddedPostgres(private_dir / "gone", free_port()) as first:
        orphan = first.pgdata.resolve()
    shutil.rmtree(private_dir / "gone")

    with EmbeddedPostgres(private_dir / "next", free_port(), durable=False):
        pass

    assert not orphan.exists()


def test_search_permission_is_checked_on_every_parent(tmp_path: Path) -> None:
    user = _another_user()
    inner = tmp_path / "outer" / "inner"
    inner.mkdir(parents=True)
    inner.chmod(0o711)
    (tmp_path / "outer").chmod(0o700)

    assert pg_home.can_traverse(Path("/"), user)
    assert not pg_home.can_traverse(inner, user)
    (tmp_path / "outer").chmod(0o711)
    # Now only tmp_path and its parents decide, whatever modes pytest gave them.
    assert pg_home.can_traverse(inner, user) == pg_home.can_traverse(tmp_path, user)


@pytest.mark.parametrize("planted", ["writable", "symlink"])
def test_a_runtime_folder_anybody_could_have_planted_is_refused(
    tmp_path: Path, planted: str
) -> None:
    root = tmp_path / "authara-postgres"
    if planted == "writable":
        root.mkdir()
        root.chmod(0o777)
    else:
        (tmp_path / "elsewhere").mkdir()
        root.symlink_to(tmp_path / "elsewhere")

    with pytest.raises(pg_home.PostgresHomeError, match="owned by root"):
        pg_home.shared_install(_another_user(), root)


def test_a_second_process_waits_for_the_first_copy_instead_of_replacing_it() -> None:
    # Two test workers starting at once: the one that finds the copy unfinished must wait for
    # the other's lock, not swap the directory away while the other already runs initdb.
    if os.geteuid() != 0:
        assert pg_home.server_user() is None  # not root: the wheel's own files, no copy
        return
    user = pg_home.server_user()
    assert user is not None
    parent = Path(tempfile.mkdtemp(dir="/var/tmp"))
    parent.chmod(0o711)
    root = parent / "authara-postgres"
    installs: list[Path] = []
    with pg_home._install_lock(pg_home._runtime_root(root, user)):
        worker = threading.Thread(
            target=lambda: installs.append(pg_home.shared_install(user, root))
        )
        worker.start()
        worker.join(timeout=1.0)
        assert worker.is_alive()
        assert not [p for p in root.iterdir() if p.name.startswith(("pg-", ".staging-"))]
    worker.join()
    try:
        assert (installs[0] / "bin" / "initdb").is_file()
    finally:
        shutil.rmtree(parent)
