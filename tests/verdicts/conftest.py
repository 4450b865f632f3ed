"""Fixtures of the verdict tests."""
import numpy as np
import pytest

from tests import smooth


@pytest.fixture(scope="module")
def smooth_table():
    rows = []
    for label, f, x in smooth.cases():
        g = smooth.reference_gradient(f, x)
        if np.all(np.isfinite(g)):
            rows.append((label, f, x, g))
    return rows


