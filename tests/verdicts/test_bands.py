"""Headlines, hints and the block table (verdicts.bands): what a failing or inconclusive check says."""
import math
import warnings

import numpy as np
import pytest

import fastcheck as fc
from fastcheck import check_model
from fastcheck.models import MLP, MUTANTS, SHOWCASE
from tests.verdicts.shared import check_quietly


# -- headlines and hints ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", [m for m in MUTANTS if MUTANTS[m].visible(MLP(**SHOWCASE))])
def test_failing_headlines_say_why(name):
    model = MLP(**SHOWCASE)
    theta = model.init(seed=5)
    X, y = model.sample_data(8, seed=6)
    r = check_model(model.mutant(name), theta, X, y)
    assert not r.passed
    head = r.headline()
    assert head.startswith("FAILED — wrong in ") and "great" not in head and "— ok" not in head
    assert set(r.wrong_blocks) <= set(MUTANTS[name].blocks(model))


def test_a_sample_that_saw_only_zero_gradients_says_so():
    n = 50
    theta = np.linspace(-1, 1, 2 * n)
    layout = fc.Layout.from_shapes({"live": (n,), "dead": (n,)})

    def cost(t):
        return np.sum(t[:n] ** 2) + np.sum(np.maximum(t[n:] - 5.0, 0.0) ** 2)  # 'dead' is flat here

    g = np.concatenate([2 * theta[:n], np.zeros(n)])
    r = check_quietly(cost, theta, g, layout=layout, sample=3)
    dead = r.blocks.set_index("block").loc["dead"]
    assert dead["verdict"] == "inconclusive" and "only zero gradients" in dead["note"]
    assert not r.passed and "only zero gradients" in r.headline()
    full = check_quietly(cost, theta, g, layout=layout)
    assert full.passed and full.blocks.set_index("block").loc["dead", "note"] == "all zero"


def test_hint_names_the_highest_failing_layer_and_the_output_gradient():
    from fastcheck.verdicts.bands import hint

    layout = fc.Layout.from_shapes({"W1": (2, 2), "b1": (2,), "W2": (2, 2), "b2": (2,), "W3": (2, 1), "b3": (1,)})
    assert "layer 2" in hint(layout, ["W1", "b1", "W2", "b2"]) and "W2, b2" in hint(layout, ["W1", "b1", "W2", "b2"])
    assert "output" in hint(layout, list(layout.names))
    assert hint(layout, ["W3"]) == "look at the backprop of: W3"
    assert hint(layout, []) == ""


def test_cli_exits_3_when_inconclusive(tmp_path, capsys):
    from fastcheck.cli import main

    f = tmp_path / "edge.py"
    f.write_text(
        "import numpy as np\n"
        "def make():\n"
        "    theta = np.array([1e-9, 1.0, 2.0])\n"
        "    return (lambda t: float(np.sum(np.log(t)))), theta, 1 / theta\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        code = main(["check", f"{f}:make", "--eps", "1e-6"])
    out = capsys.readouterr().out
    assert code == 3 and "FAILED — inconclusive" in out and "non-finite" in out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert main(["check", f"{f}:make", "--eps", "1e-12"]) == 0


# -- long vectors (a Hessian's entries): chunked arithmetic, the numbers of the plain formula ---------------
def _plain_difference(a, b):
    """The recipe's formula written out: scaled by the largest magnitude, then three sums of squares."""
    top = max(float(np.max(np.abs(a))), float(np.max(np.abs(b))))
    if top == 0:
        return 0.0
    if np.isfinite(top):
        a, b = a / top, b / top
    den = np.sqrt(np.sum(a * a)) + np.sqrt(np.sum(b * b))
    return 0.0 if den == 0 else float(np.sqrt(np.sum((a - b) * (a - b))) / den)


@pytest.mark.parametrize("scale", [1.0, 1e-300, 1e290])
def test_the_difference_of_long_vectors_is_the_plain_formulas_to_the_bit(scale):
    from fastcheck.verdicts.bands import relative_difference

    rng = np.random.default_rng(4)
    n = 300_007  # several chunks, the last one short
    a = rng.standard_normal(n) * scale
    b = a * (1 + 1e-6 * rng.standard_normal(n))
    got = relative_difference(a, b)
    assert got == _plain_difference(a, b)
    exact = math.sqrt(math.fsum((x - y) ** 2 for x, y in zip(a / scale, b / scale)))  # an independent check
    norms = math.sqrt(math.fsum(x * x for x in a / scale)) + math.sqrt(math.fsum(y * y for y in b / scale))
    assert got == pytest.approx(exact / norms, rel=1e-9)
    assert relative_difference(a, a.copy()) == 0.0 and relative_difference(np.zeros(n), np.zeros(n)) == 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        a[n // 2] = np.inf  # no scaling then: the formula's own inf/NaN
        np.testing.assert_equal(relative_difference(a, b), _plain_difference(a, b))


def test_the_worst_entry_of_a_long_block_is_the_first_largest_gap():
    from fastcheck.verdicts.bands import _largest_gap

    rng = np.random.default_rng(5)
    n = 200_003
    a = rng.standard_normal(n)
    g = a + 1e-9 * rng.standard_normal(n)
    for i in (n - 1, 70_000, 3):  # ties: the first one wins, as np.argmax says
        g[i] = a[i] + 1.0
        gap = np.abs(a - g)
        assert _largest_gap(a, g) == (int(np.argmax(gap)), float(gap.max()))
    g[150_000] = np.nan  # a NaN is the largest, as np.argmax says
    assert _largest_gap(a, g)[0] == int(np.argmax(np.abs(a - g))) == 150_000


def test_the_block_table_reads_sorted_entries_as_the_masks_do():
    """A full check's entries are sorted by block, and block_table reads each block through a slice;
    the same entries out of order go through the boolean masks.  On a planted bug (wrong and
    inconclusive blocks beside great ones) both give the same table: the difference to the rounding
    of a sum taken in another order, every other column exactly."""
    from fastcheck.verdicts.bands import block_table

    model = MLP(**SHOWCASE)
    theta = model.init(seed=5)
    X, y = model.sample_data(8, seed=6)
    name = next(m for m in MUTANTS if MUTANTS[m].visible(model))
    r = check_model(model.mutant(name), theta, X, y)
    assert not r.passed
    ids = r.layout.block_ids(np.arange(r.n_params))
    labels = [f"[{k}]" for k in range(r.n_params)]
    why = np.zeros(r.n_params, np.int8)
    args = (r.analytic, r.numerical, r.status_code, why)
    table = block_table(r.layout, ids, labels, *args, r.thresholds)
    order = np.random.default_rng(0).permutation(r.n_params)
    shuffled = block_table(r.layout, ids[order], [labels[k] for k in order], *(a[order] for a in args), r.thresholds)
    assert (table["verdict"] == "wrong").any()
    np.testing.assert_allclose(shuffled["difference"], table["difference"], rtol=8 * np.finfo(float).eps * r.n_params)
    rest = [c for c in table.columns if c != "difference"]
    assert shuffled[rest].equals(table[rest])
