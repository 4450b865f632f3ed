"""config: the cache of fastcheck's compiled functions is invalidated by a change to any of its files."""
import numba
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
    if numba.config.CACHE_DIR:
        pytest.skip("NUMBA_CACHE_DIR is set: Numba's own locator wins")
    from fastcheck.models.layered import kernel

    locator = next(c for c in impl._locator_classes if getattr(c, "_fastcheck", False))
    loc = locator.from_function(kernel.layered_costs.py_func, kernel.__file__)
    assert loc is not None and loc.get_source_stamp() == config.package_stamp()
