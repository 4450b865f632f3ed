import os

import numba
import pytest

# The suite tests the compiled kernels: small problems would otherwise run interpreted (the same code,
# see fastcheck.config.interpreted); the tests of that choice set it themselves.
os.environ.setdefault("FASTCHECK_COMPILE", "always")
# workers="auto" weighs the machine's load (other programs' work leaves fewer free cores); the suite
# decides as on a quiet machine, whatever else runs beside it (tests of the load set it themselves).
os.environ.setdefault("FASTCHECK_LOAD", "0")

# tests/data holds users' files; its plugin_project is a user's test suite, run by test_plugin.py in a
# subprocess (two of its tests fail on purpose), never collected here.
collect_ignore = ["data"]


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test")
    # the plugin's marker, for the README's plugin example run in-process where the plugin is not installed
    config.addinivalue_line("markers", "gradcheck: a gradient check (fastcheck's pytest plugin)")


@pytest.fixture
def two_threads():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs NUMBA_NUM_THREADS >= 2")
    return 2
