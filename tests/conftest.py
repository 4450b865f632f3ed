import numba
import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test")


@pytest.fixture
def two_threads():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs NUMBA_NUM_THREADS >= 2")
    return 2
