"""fastcheck.support.heap: the C heap kept open after a large check, once, and only when asked to."""
import os
import subprocess
import sys

import pytest

from fastcheck import config
from fastcheck.support import heap


@pytest.fixture
def calls(monkeypatch):
    """A recording stand-in for glibc's mallopt, and a process in which no pad was set yet."""
    seen = []

    def fake(param, value):
        seen.append((param, value))
        return 1

    monkeypatch.setattr(heap, "_mallopt", lambda: fake)
    monkeypatch.setattr(heap, "_SET", [0])
    return seen


def test_a_large_check_sets_the_pad_once(calls, monkeypatch):
    monkeypatch.setattr(config, "HEAP_PAD", 8 << 20)
    assert heap.keep_heap(heap.LARGE) is True
    assert heap.keep_heap(10 * heap.LARGE) is True
    assert calls == [(heap.M_TOP_PAD, 8 << 20), (heap.M_MMAP_THRESHOLD, heap.MMAP_THRESHOLD)]


def test_a_small_check_leaves_the_allocator_alone(calls):
    assert heap.keep_heap(heap.LARGE - 1) is False
    assert calls == []


def test_heap_pad_zero_leaves_the_allocator_alone(calls, monkeypatch):
    monkeypatch.setattr(config, "HEAP_PAD", 0)
    assert heap.keep_heap(10 * heap.LARGE) is False
    assert calls == []


@pytest.mark.parametrize("bad", [-1, 2**31, 1.5, True, "64M"])
def test_a_bad_heap_pad_is_named(calls, monkeypatch, bad):
    monkeypatch.setattr(config, "HEAP_PAD", bad)
    with pytest.raises(ValueError, match="HEAP_PAD"):
        heap.keep_heap(heap.LARGE)
    assert calls == []


def test_without_glibc_nothing_is_done(monkeypatch):
    monkeypatch.setattr(heap, "_mallopt", lambda: None)
    monkeypatch.setattr(heap, "_SET", [0])
    assert heap.keep_heap(heap.LARGE) is False


def test_a_failed_mallopt_is_not_taken_for_a_set_pad(monkeypatch):
    monkeypatch.setattr(heap, "_mallopt", lambda: (lambda param, value: 0))
    monkeypatch.setattr(heap, "_SET", [0])
    assert heap.keep_heap(heap.LARGE) is False


@pytest.mark.skipif(heap._mallopt() is None, reason="glibc's mallopt only")
def test_a_full_check_of_a_large_network_sets_it_in_a_fresh_process():
    """The real call, in a process of its own (the suite's process keeps its allocator as it is):
    a check of 50 coordinates leaves it alone, a full check of 10⁵ parameters sets it, and still passes."""
    code = ("import numpy as np, fastcheck\n"
            "from fastcheck.models import MLP\n"
            "from fastcheck.support import heap\n"
            "m = MLP([784, 96, 10]); th = m.init(0); X, y = m.sample_data(8, seed=1)\n"
            "small = fastcheck.check_model(m, th, X, y, coords=np.arange(50))\n"
            "before = heap._SET[0]\n"
            "r = fastcheck.check_model(m, th, X, y)\n"
            "print(before, heap._SET[0], r.verdict)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "FASTCHECK_HEAP_PAD": str(16 << 20)}).stdout.split()
    assert out == ["0", str(16 << 20), "great"]
