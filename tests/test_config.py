"""config: the cache of fastcheck's compiled functions is invalidated by a change to any of its files."""
import numba
import numpy as np
import pytest

from fastcheck import config


def test_the_package_stamp_changes_when_any_file_changes(tmp_path, monkeypatch):
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.py").write_text("y = 2\n")
    monkeypatch.setattr(config, "PACKAGE_DIR", str(tmp_path))
    config.package_stamp.cache_clear()
    try:
        before = config.package_stamp()
        (tmp_path / "sub" / "b.py").write_text("y = 22\n")  # a callee's file, not the caller's
        config.package_stamp.cache_clear()
        assert config.package_stamp() != before
    finally:
        config.package_stamp.cache_clear()


def test_fastchecks_own_functions_are_stamped_by_the_whole_package():
    from numba.core import caching

    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    if impl is None or not any(getattr(c, "_fastcheck", False) for c in impl._locator_classes):
        pytest.skip("this Numba has no locator list; NUMBA_CACHE_DIR is used instead")
    from fastcheck.models.layered import kernel

    locator = next(c for c in impl._locator_classes if getattr(c, "_fastcheck", False))
    loc = locator.from_function(kernel.layered_costs.py_func, kernel.__file__)
    assert loc is not None and loc.get_source_stamp() == config.package_stamp()


def test_the_package_stamp_is_kept_when_the_same_sources_are_written_again(tmp_path, monkeypatch):
    import os

    (tmp_path / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(config, "PACKAGE_DIR", str(tmp_path))
    config.package_stamp.cache_clear()
    try:
        before = config.package_stamp()
        (tmp_path / "a.py").write_text("x = 1\n")  # a reinstall: same bytes, a new modification time
        os.utime(tmp_path / "a.py", (1e9, 1e9))
        config.package_stamp.cache_clear()
        assert config.package_stamp() == before
    finally:
        config.package_stamp.cache_clear()


@numba.njit
def _square(x):
    return x * x


@numba.njit
def _sum_of_squares(a):
    s = 0.0
    for v in a:
        s += _square(v)
    return s


def test_interpreted_runs_the_source_and_its_callees_without_compiling():
    a = np.array([1.5, -2.0, 3.0])
    run = config.interpreted(_sum_of_squares)
    assert run(a) == 1.5**2 + 4.0 + 9.0
    assert not _sum_of_squares.signatures and not _square.signatures  # nothing was compiled
    assert config.interpreted(run) is run  # a plain function is returned as is
    assert run(np.array([1e200, 1e200])) == np.inf  # NumPy's error model: overflow is inf, silently
    assert _sum_of_squares(a) == run(a)  # and the compiled function computes the same


@numba.njit
def _cube(x):
    return x * x * x


def test_compile_pays_weighs_the_interpreted_time_against_compiling(monkeypatch):
    monkeypatch.setattr(config, "COMPILE", "auto")
    assert not config.compile_pays(_cube, interpreted_seconds=1.0, cold_seconds=10.0)
    assert config.compile_pays(_cube, interpreted_seconds=20.0, cold_seconds=10.0)
    assert not config.compile_pays(lambda x: x, 20.0, 10.0)  # nothing to compile
    monkeypatch.setattr(config, "COMPILE", "always")
    assert config.compile_pays(_cube, 0.0, 10.0)
    monkeypatch.setattr(config, "COMPILE", "never")
    assert not config.compile_pays(_cube, 1e9, 10.0)
    monkeypatch.setattr(config, "COMPILE", "auto")
    _cube(2.0)
    assert config.compile_pays(_cube, 0.0, 10.0)  # compiled already: free


@numba.njit
def _halve(x):
    return 0.5 * x


def test_runner_compiles_once_the_interpreted_calls_would_have_paid_for_it(monkeypatch):
    monkeypatch.setattr(config, "COMPILE", "auto")
    picks = [config.runner(_halve, 0.4, 1.0) for _ in range(3)]
    assert [config.is_compiled(p) for p in picks] == [False, False, True]  # 0.4, 0.8, then 1.2 > 1.0
    assert picks[0](3.0) == 1.5 and picks[2](3.0) == 1.5


def test_a_function_without_cache_is_not_on_disk():
    assert not config.on_disk(_halve)
    assert not config.on_disk(lambda x: x)


def test_on_disk_reads_a_cache_index_once_per_function_and_compiled_count():
    reads = []

    class Index:
        def _load_index(self):
            reads.append(1)
            return {"a signature": "an entry"}

    class Cache:
        _cache_file = Index()

    class Kernel:  # stands in for a dispatcher whose cache holds an entry
        _cache = Cache()

    kernel = Kernel()
    assert config.on_disk(kernel) and config.on_disk(kernel)
    assert len(reads) == 1  # the second answer came from memory, not from the file
    assert config.on_disk(Kernel()) and len(reads) == 2  # another function reads its own index


def test_compiled_count_counts_the_specialisations_as_signatures_lists_them():
    @numba.njit(cache=False)
    def twice(x):
        return 2 * x

    assert config.compiled_count(twice) == len(twice.signatures) == 0
    twice(1.0)
    twice(np.arange(3))
    assert config.compiled_count(twice) == len(twice.signatures) == 2
    twice(2.0)  # the same signature again: nothing new
    assert config.compiled_count(twice) == 2


class _Terminal:
    def __init__(self):
        self.text = ""

    def write(self, s):
        self.text += s

    def flush(self):
        pass

    def isatty(self):
        return True


def test_a_compilation_with_nothing_cached_is_announced_once_on_a_terminal(monkeypatch):
    import io

    monkeypatch.setattr(config, "_ANNOUNCED", set())
    monkeypatch.delenv("FASTCHECK_QUIET", raising=False)
    tty = _Terminal()
    assert config.announce_compiling("the kernel (k)", 20.0, tty)
    assert "compiling the kernel (k), about 20 s once" in tty.text and "for next time" in tty.text
    assert not config.announce_compiling("the kernel (k)", 20.0, tty)  # once per process
    log = io.StringIO()  # a log, a pipe, a test's capture: the summary's figure alone
    assert not config.announce_compiling("another kernel", 5.0, log) and log.getvalue() == ""
    monkeypatch.setenv("FASTCHECK_QUIET", "1")
    assert not config.announce_compiling("a third kernel", 5.0, tty)


def test_the_structured_evaluator_announces_a_first_compilation_and_times_it_apart(monkeypatch):
    from fastcheck.evaluators import structured
    from fastcheck.models import MLP

    said = []
    monkeypatch.setattr(config, "announce_compiling", lambda what, seconds, stream=None: said.append((what, seconds)))
    monkeypatch.setattr(config, "on_disk", lambda fn: False)
    model = MLP([2, 3, 1])
    X, y = model.sample_data(4, seed=0)
    ev = structured.LayeredEvaluator(model, X, y, form="numpy")

    @numba.njit
    def never_compiled(x):
        return x + 1.0

    assert ev._timed(never_compiled, 1.0) == 2.0
    assert said == [("the structure-aware kernel (never_compiled)", structured.COLD_KERNEL)]
    assert ev.compile_seconds > 0 and not ev.compile_loaded
    ev._timed(never_compiled, 2.0)  # compiled now: nothing more to say
    assert len(said) == 1
