"""Report files written so that nothing is lost: atomic replaces and one writer per directory.

* :func:`atomic_write` writes a file through a fresh temporary file in the
  same directory (created by :func:`tempfile.mkstemp`: a unique name opened
  with ``O_EXCL``, so a symlink planted in the directory is never followed)
  and moves it over the target with :func:`os.replace`.  A kill, a full disk
  or an exception at any moment leaves the previous complete file (or none),
  never a truncated one; the temporary file is removed on failure.
* :func:`read_bounded` reads a file fastcheck wrote back (``results.csv``,
  ``sweep.json``): regular files only (a FIFO, a device such as a symlink to
  ``/dev/zero``, or a directory is refused at once, never waited on) and at
  most a bounded number of bytes.
* :func:`directory_lock` makes one process at a time the writer of an output
  directory (an ``flock`` on ``DIR/.fastcheck.lock``); a second writer is
  refused with :class:`DirectoryBusyError`.  The lock is re-entrant within a
  process, so a sweep and the report written after it share it.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import stat
import tempfile
import threading
from pathlib import Path

from fastcheck.errors import DirectoryBusyError, SweepFileError

try:  # POSIX; elsewhere directories are not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["LOCK_NAME", "MAX_READ", "atomic_write", "directory_lock", "dumps_strict", "open_for_append",
           "read_bounded", "write_text"]

LOCK_NAME = ".fastcheck.lock"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
#: The most :func:`read_bounded` reads by default: 1 GiB (a results table of millions of grid points).
MAX_READ = 1 << 30


def _file_mode() -> int:
    """Permissions a plain ``open(path, "w")`` would give (mkstemp makes 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_MODE = _file_mode()


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", **open_kw):
    """Open a temporary file that replaces ``path`` when the block completes.

    Parameters
    ----------
    path : path
        The file to (re)write; its directory must exist.
    mode : {"w", "wb"}
        Text or binary.  ``open_kw`` go to :func:`open` (``newline``,
        ``encoding``).

    Yields
    ------
    file object
        Write the complete new contents to it.  If the block raises (or the
        process dies), ``path`` keeps its previous contents.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    if "b" not in mode:
        open_kw.setdefault("encoding", "utf-8")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **open_kw) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _MODE)
        os.replace(tmp, path)  # replaces a symlink at ``path`` itself, never its target
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_directory(path.parent)


def write_text(path, text: str) -> Path:
    """Replace ``path`` by ``text`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, "w") as fh:
        fh.write(text)
    return Path(path)


def dumps_strict(obj, **kw) -> str:
    """JSON that any strict parser reads: NaN and ±inf become null (never the
    ``NaN``/``Infinity`` literals Python writes by default); NumPy scalars and
    arrays become numbers and lists, anything else its ``str``."""
    return json.dumps(_plain(obj), allow_nan=False, **kw)


def _plain(obj):
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if obj is None or isinstance(obj, (bool, str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    tolist = getattr(obj, "tolist", None)  # NumPy scalars and arrays
    if callable(tolist):
        return _plain(tolist())
    return str(obj)


def read_bounded(path, limit: int = MAX_READ) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    The file is opened without blocking (a FIFO planted in its place is not waited on) and refused unless
    it is a regular file (a FIFO, a device such as ``/dev/zero`` behind a symlink, a socket or a directory
    raise :class:`SweepFileError` naming what it is); a file larger than ``limit`` bytes is refused too.
    ``FileNotFoundError`` passes through.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | _NONBLOCK | _CLOEXEC)
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise SweepFileError(f"{path} is a directory, not a file fastcheck wrote") from None
    except OSError as exc:
        raise SweepFileError(f"{path} cannot be opened: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a directory" if stat.S_ISDIR(st.st_mode)
                    else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                    else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
            raise SweepFileError(f"{path} is {kind}, not a regular file fastcheck wrote; refusing to read it")
        if st.st_size > limit:
            raise SweepFileError(f"{path} holds {st.st_size:,} bytes, more than the {limit:,} fastcheck reads")
        if _NONBLOCK:
            os.set_blocking(fd, True)
        chunks, total = [], 0
        while True:  # at most limit + 1 bytes, whatever the size said (a file still growing)
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise SweepFileError(f"{path} holds more than the {limit:,} bytes fastcheck reads")
        return b"".join(chunks)
    finally:
        os.close(fd)


def open_for_append(path):
    """``path`` opened for appending text, refusing to follow a symlink."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | _NOFOLLOW | _CLOEXEC)
    return os.fdopen(fd, "a", newline="", encoding="utf-8")


def _sync_directory(directory) -> None:
    """Make the rename itself durable (best effort: not every system can)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- one writer per directory ------------------------------------------------------------
_held: dict = {}
_held_guard = threading.Lock()


@contextlib.contextmanager
def directory_lock(directory):
    """Hold ``directory`` as its only writer for the block.

    The directory is created if needed (and removed again if nothing but
    the lock was written to it).  Raises :class:`DirectoryBusyError`
    at once if another process holds it (the lock is released when that
    process exits, however it exits).
    """
    directory = Path(directory)
    created = [d for d in (directory, *directory.parents) if not d.exists()]  # innermost first
    directory.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(directory)
    with _held_guard:
        if key in _held:
            _held[key][1] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield directory
        finally:
            with _held_guard:
                _held[key][1] -= 1
        return
    fd = _acquire(directory)
    with _held_guard:
        _held[key] = [fd, 1]
    try:
        yield directory
    finally:
        with _held_guard:
            del _held[key]
        # Leave no lock file behind: it is removed while still held (a process that opened it meanwhile
        # sees, once it holds it, that the path no longer names its file, and starts over: _acquire).
        with contextlib.suppress(OSError):
            os.unlink(directory / LOCK_NAME)
        if created and not os.listdir(directory):  # nothing was written: leave no trace
            with contextlib.suppress(OSError):
                for d in created:
                    os.rmdir(d)
        os.close(fd)  # releases the flock


def _acquire(directory: Path) -> int:
    path = directory / LOCK_NAME
    for _ in range(100):
        fd = _try_acquire(directory, path)
        if fcntl is None:  # pragma: no cover
            return fd
        # The holder removes the lock file as it lets go: if the path no longer names the file now held,
        # that file is stale, and the next holder's is the one to take.
        held = os.fstat(fd)
        try:
            now = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            now = None
        if now is not None and (now.st_ino, now.st_dev) == (held.st_ino, held.st_dev):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            return fd
        os.close(fd)
    raise DirectoryBusyError(f"cannot take the lock file {path}: it keeps being replaced")  # pragma: no cover


def _try_acquire(directory: Path, path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC, 0o644)
    except OSError as exc:
        raise DirectoryBusyError(f"cannot open the lock file {path}: {exc.strerror}") from None
    if fcntl is None:  # pragma: no cover
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        try:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
        except OSError:
            holder = ""
        os.close(fd)
        who = f" (pid {holder})" if holder.isdigit() else ""
        raise DirectoryBusyError(
            f"{directory} is being written by another fastcheck process{who}; wait for it to finish, "
            "or write to another directory (--name / --out)"
        ) from None
    return fd
