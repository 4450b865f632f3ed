"""support/shared.py: an array written by another process in place, found only by its own token."""
import os

import numpy as np
import pytest

from fastcheck.evaluators.pool import worker
from fastcheck.support import shared

pytestmark = pytest.mark.skipif(not shared.available(), reason="shared arrays need Linux memfd_create")


def test_rows_written_through_the_handle_land_in_the_owners_array():
    with shared.SharedArray((5, 3)) as arr:
        arr.array[...] = -1.0
        shared.write_rows(arr.handle, np.array([4, 1]), np.arange(6.0).reshape(2, 3))
        want = np.full((5, 3), -1.0)
        want[[4, 1]] = np.arange(6.0).reshape(2, 3)
        np.testing.assert_array_equal(arr.array, want)
    assert arr.fd == -1
    np.testing.assert_array_equal(arr.array, want)  # closing drops the file, not the memory


def test_a_closed_or_foreign_file_is_refused():
    arr = shared.SharedArray((2, 2))
    handle = arr.handle
    arr.close()
    with pytest.raises(OSError):  # the fd is gone
        shared.write_rows(handle, np.array([0]), np.zeros((1, 2)))
    other = shared.SharedArray((2, 2))  # may get the same fd number: its token differs
    try:
        with pytest.raises(OSError, match="not the shared array"):
            shared.write_rows(handle._replace(fd=other.fd), np.array([0]), np.ones((1, 2)))
        assert not other.array.any()
        with pytest.raises(OSError, match="smaller"):
            shared.write_rows(other.handle._replace(shape=(4, 4)), np.array([0]), np.ones((1, 4)))
    finally:
        other.close()


def test_a_chunk_that_cannot_reach_the_array_returns_its_costs(monkeypatch):
    """A worker that cannot open the owner's file sends its costs back as before (pickled)."""
    arr = shared.SharedArray((3, 2))
    handle = arr.handle
    arr.close()
    costs = np.arange(4.0).reshape(2, 2)
    monkeypatch.setattr(worker, "run_keyed_chunk", lambda key, state, method, *a: (None, costs, ()))
    got = worker.run_keyed_chunk_into("k", None, "stencil", handle, np.array([0, 2]))
    assert got[1] is costs
    live = shared.SharedArray((3, 2))
    try:
        got = worker.run_keyed_chunk_into("k", None, "stencil", live.handle, np.array([0, 2]))
        assert got[1] == worker.WRITTEN
        np.testing.assert_array_equal(live.array, [[0, 1], [0, 0], [2, 3]])
    finally:
        live.close()
    assert not [fd for fd in os.listdir("/proc/self/fd")
                if os.path.exists(f"/proc/self/fd/{fd}") and "memfd:fastcheck-" in os.readlink(f"/proc/self/fd/{fd}")]
