"""An array this process shares with its worker processes: results written where they are read.

A Hessian check of n = 2,000 gets 32 MB of column sums back from the
workers.  Pickled, they cross a pipe and are copied three times in this
process (read, unpickled, gathered into one array), all of it while the
workers wait: the serial part of a pooled check.  A :class:`SharedArray`
lives in an anonymous memory file (``os.memfd_create``): nothing in
``/dev/shm`` or on disk, and its memory goes back to the system when the
last mapping of it is gone, whether the check ends, fails or is
interrupted, and whether a worker dies or not.  A worker opens it through
``/proc/<pid>/fd/<fd>`` of this process (:func:`write_rows`), checks that the
file there is this array's (its name carries a random token) and writes
its rows in place; this process reads them from :attr:`SharedArray.array`
without a copy.

Linux only (:func:`available`); elsewhere, or when a worker cannot open the
file, the results travel as pickles, as before.
"""
from __future__ import annotations

import ctypes
import mmap
import os
import secrets
import sys
import weakref
from typing import NamedTuple

import numpy as np

__all__ = ["Handle", "SharedArray", "write_rows", "available"]

_PREFIX = "fastcheck-"


def available() -> bool:
    """Whether shared arrays can be made here (Linux, with ``memfd_create`` and ``/proc``)."""
    return sys.platform.startswith("linux") and hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd")


def _mapped(fd: int, nbytes: int):
    """``nbytes`` of the file ``fd`` mapped shared and writable, as a ctypes buffer unmapped when it is freed.

    Not :class:`mmap.mmap`: that keeps a duplicate of ``fd`` open as long as the mapping lives, so every
    result still referring to its columns would hold a file descriptor.
    """
    libc = _libc()
    flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
    addr = libc.mmap(None, nbytes, mmap.PROT_READ | mmap.PROT_WRITE, flags, fd, 0)
    if addr is None or addr == ctypes.c_void_p(-1).value:
        err = ctypes.get_errno()
        raise OSError(err, f"mmap of a shared array failed: {os.strerror(err)}")
    memory = (ctypes.c_char * nbytes).from_address(addr)
    weakref.finalize(memory, libc.munmap, addr, nbytes)
    return memory


_LIBC = []


def _libc():
    if not _LIBC:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
        libc.munmap.restype = ctypes.c_int
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        _LIBC.append(libc)
    return _LIBC[0]


class Handle(NamedTuple):
    """What a worker needs to find a :class:`SharedArray`: the owner's pid and fd, the file's token, the shape."""

    pid: int
    fd: int
    token: str
    shape: tuple


class SharedArray:
    """A float64 array of ``shape`` in an anonymous memory file; :meth:`close` drops the file.

    :attr:`array` stays valid after :meth:`close` (the mapping keeps the memory, and holds no file
    descriptor) and is unmapped with the last array that refers to it.
    """

    def __init__(self, shape):
        self.shape = tuple(int(s) for s in shape)
        nbytes = int(np.prod(self.shape)) * 8
        self.token = secrets.token_hex(8)
        self.fd = os.memfd_create(_PREFIX + self.token, os.MFD_CLOEXEC)
        try:
            os.ftruncate(self.fd, max(nbytes, 1))
        except BaseException:
            os.close(self.fd)
            raise
        self._array = None

    @property
    def array(self) -> np.ndarray:
        """The array, mapped here on first use (with its page tables filled in one call, so that reading
        what the workers wrote takes no page fault per page): use it once they are done, before :meth:`close`."""
        if self._array is None:
            if self.fd < 0:
                raise ValueError("the shared array was closed before it was mapped here")
            n = int(np.prod(self.shape))
            self._array = np.frombuffer(_mapped(self.fd, max(n * 8, 1)), np.float64, n).reshape(self.shape)
        return self._array

    @property
    def handle(self) -> Handle:
        return Handle(os.getpid(), self.fd, self.token, self.shape)

    def close(self) -> None:
        """Close the file (the workers can no longer open it); :attr:`array` keeps its memory."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_rows(handle: Handle, where, values) -> None:
    """``array[where] = values`` in the owner's array of ``handle``, from a worker process.

    Raises ``OSError`` when the file cannot be opened or is not the one ``handle`` names (the owner
    closed it, and the fd number now belongs to another file).  The worker maps the file for this write
    only, so that it holds none of the memory afterwards.
    """
    fd = os.open(f"/proc/{int(handle.pid)}/fd/{int(handle.fd)}", os.O_RDWR | os.O_CLOEXEC)
    try:
        if not os.readlink(f"/proc/self/fd/{fd}").startswith(f"/memfd:{_PREFIX}{handle.token}"):
            raise OSError(f"fd {handle.fd} of process {handle.pid} is not the shared array {handle.token}")
        n = int(np.prod(handle.shape))
        if os.fstat(fd).st_size < n * 8:
            raise OSError(f"the shared array {handle.token} is smaller than its shape")
        mapped = mmap.mmap(fd, max(n * 8, 1), mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    finally:
        os.close(fd)
    try:
        np.frombuffer(mapped, np.float64, n).reshape(handle.shape)[where] = values
    finally:
        mapped.close()
