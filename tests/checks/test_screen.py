"""strategy="screen": group tests per block, localisation, confirmation, the budget and the detection limit.

The screen is held against a naive full check (the seeds' central-difference
loop, :func:`tests.naive.central_difference`) and against fastcheck's own
``strategy="full"`` on small networks with planted bugs: the same verdicts, the
same wrong blocks, the same wrong coordinates.
"""
import numpy as np
import pytest

import fastcheck as fc
from fastcheck.checks import screen
from fastcheck.verdicts.detectable import SCREEN_RUNGS
from tests.costs import quartic, quartic_grad
from tests.naive import central_difference

SHAPES = {"W1": (40, 25), "b1": (25,), "W2": (25, 4), "b2": (4,)}
LAYOUT = fc.Layout.from_shapes(SHAPES)


class TwoLayer:
    """A sigmoid network in plain NumPy, mean squared error over a batch; θ = [W1, b1, W2, b2]."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.X = rng.standard_normal((8, 40))
        self.Y = rng.standard_normal((8, 4))
        self.theta = np.concatenate([rng.standard_normal(1000) / 6, 0.1 * rng.standard_normal(25),
                                     rng.standard_normal(100) / 5, 0.1 * rng.standard_normal(4)])

    def parts(self, t):
        W1, b1 = t[:1000].reshape(40, 25), t[1000:1025]
        W2, b2 = t[1025:1125].reshape(25, 4), t[1125:]
        return W1, b1, W2, b2

    def cost(self, t):
        W1, b1, W2, b2 = self.parts(t)
        a = 1 / (1 + np.exp(-(self.X @ W1 + b1)))
        r = a @ W2 + b2 - self.Y
        return 0.5 * float(np.sum(r * r)) / len(self.X)

    def grad(self, t):
        W1, b1, W2, b2 = self.parts(t)
        a = 1 / (1 + np.exp(-(self.X @ W1 + b1)))
        r = (a @ W2 + b2 - self.Y) / len(self.X)
        d = (r @ W2.T) * a * (1 - a)
        return np.concatenate([(self.X.T @ d).ravel(), d.sum(0), (a.T @ r).ravel(), r.sum(0)])


NET = TwoLayer()
G = NET.grad(NET.theta)
NAIVE = central_difference(NET.cost, NET.theta, 1e-6)


def _largest(block, k, rng):
    """k coordinates of a block drawn among its larger half of |g| (a 1 % error there is far above the limit)."""
    s = LAYOUT.block_slice(block)
    big = s.start + np.flatnonzero(np.abs(G[s]) >= np.median(np.abs(G[s])))
    return rng.choice(big, size=k, replace=False)


def _planted(kind):
    rng = np.random.default_rng(7)
    g = G.copy()
    if kind == "correct":
        return g
    if kind == "one":
        idx = _largest("W1", 1, rng)
    elif kind == "three in one block":
        idx = _largest("W1", 3, rng)
    elif kind == "scattered":
        idx = np.concatenate([_largest("W1", 3, rng), _largest("b1", 1, rng), _largest("W2", 2, rng)])
    elif kind == "block x1.001":
        g[LAYOUT.block_slice("W2")] *= 1.001
        return g
    elif kind == "transposed":
        s = LAYOUT.block_slice("W2")
        g[s] = np.ascontiguousarray(G[s].reshape(25, 4).T).reshape(-1)
        return g
    g[idx] *= 1.01
    return g


def _screen(g, **kw):
    return fc.check_gradient(NET.cost, NET.theta, g, layout=LAYOUT, strategy="screen", jit=False, workers=1, **kw)


def _screen_evals(n_blocks):
    """J(θ) twice (a cost's randomness is probed), then every block's tests at every rung, two points each."""
    return 2 + n_blocks * screen.SCREEN_DIRS * 2 * SCREEN_RUNGS


def _wrong(res):
    return set(res.coords[res.status == "wrong"].tolist())


def _unrefined(res):
    """Coordinates a full check left undecided in its wrong blocks: once a block is wrong on converged
    evidence, the rest of its disagreeing coordinates are not refined (inconclusive, counted in the note)."""
    in_wrong = np.isin([res.layout.locate(c)[0] for c in res.coords], res.wrong_blocks)
    return set(res.coords[(res.status == "inconclusive") & in_wrong].tolist())


@pytest.mark.parametrize("kind", ["correct", "one", "three in one block", "scattered", "block x1.001", "transposed"])
def test_the_screen_gives_the_verdicts_and_coordinates_of_a_full_check(kind):
    g = _planted(kind)
    res = _screen(g)
    full = fc.check_gradient(NET.cost, NET.theta, g, layout=LAYOUT, jit=False, workers=1)
    naive_wrong = set(np.flatnonzero(np.abs(g - NAIVE) > 1e-6 * np.maximum(1e-3, np.abs(NAIVE))).tolist())
    assert res.verdict == full.verdict
    assert res.wrong_blocks == full.wrong_blocks
    if kind in ("block x1.001", "transposed"):
        # a whole block wrong is named from a few of its coordinates, not localised through it, by the
        # full check (the rest of the block is left unrefined, and its note says how many) as by the screen
        assert _wrong(full) and _wrong(full) <= naive_wrong and _wrong(full) | _unrefined(full) == naive_wrong
        n_left = len(naive_wrong - _wrong(full))
        assert not n_left or f"{n_left} more left unrefined" in full.blocks.set_index("block").loc["W2", "note"]
        assert _wrong(res) and _wrong(res) <= naive_wrong
        tests = res.blocks.set_index("block").loc["W2", "tests"]
        assert tests <= screen.SCREEN_DIRS + 2 + 4 + 8 + 16
        assert "wrong throughout" in res.blocks.set_index("block").loc["W2", "note"]
    else:
        assert _wrong(full) == naive_wrong and not _unrefined(full)
        assert _wrong(res) == naive_wrong
    passing = res.blocks[res.blocks["verdict"].isin(["great", "ok"])]
    assert (passing["verdict"].tolist()
            == full.blocks.set_index("block").loc[passing["block"], "verdict"].tolist())
    assert res.n_evals == sum(res.spent.values())
    assert res.n_evals < full.n_evals


def test_a_correct_gradient_passes_with_its_detection_limit_stated():
    res = _screen(G)
    assert res.passed and res.verdict == "great"
    assert (res.blocks["detectable"] > 0).all() and np.isfinite(res.blocks["detectable_rel"]).all()
    absolute, _ = res.detection_limit()
    assert f"off by more than {absolute:.2e}" in res.headline()
    assert "would have been caught" in str(res)
    norms = np.array([np.linalg.norm(G[LAYOUT.block_slice(b)]) for b in res.blocks["block"]])
    assert np.allclose(res.blocks["detectable_rel"], res.blocks["detectable"] / norms)
    assert len(res.coords) == 0 and res.n_evals == _screen_evals(4)


@pytest.mark.parametrize("great", [None, 1e-12], ids=["default bands", "round-off limited"])
def test_an_error_just_above_the_stated_limit_is_found_and_one_just_below_passes(great):
    thresholds = None if great is None else {"great": great}
    clean = _screen(G, thresholds=thresholds)
    rng = np.random.default_rng(3)
    for block in ("W1", "b1", "W2"):
        row = clean.blocks.set_index("block").loc[block]
        tests = clean.tests[(clean.tests["block"] == block) & (clean.tests["role"] == "screen")]
        limit, below = row["detectable"], tests["miss"].min()
        assert limit == tests["catch"].min() and 0.5 * limit < below <= limit
        i = int(rng.choice(np.arange(LAYOUT.block_slice(block).start, LAYOUT.block_slice(block).stop)))
        for sign in (1.0, -1.0):
            above = G.copy()
            above[i] += sign * 1.02 * limit
            found = _screen(above, thresholds=thresholds)
            assert found.wrong_blocks == [block] and _wrong(found) == {i}, (block, sign)
            missed = G.copy()
            missed[i] += sign * 0.98 * below
            assert _screen(missed, thresholds=thresholds).passed, (block, sign)


def test_seeded_reproducibility():
    g = _planted("scattered")
    a, b = _screen(g, seed=5), _screen(g, seed=5)
    assert a.n_evals == b.n_evals and a.spent == b.spent
    assert np.array_equal(a.coords, b.coords) and np.array_equal(a.status, b.status)
    assert a.tests.equals(b.tests) and a.blocks.equals(b.blocks)
    c = _screen(g, seed=6)
    assert not np.allclose(a.tests["analytic"][:8], c.tests["analytic"][:8])  # other signs
    assert _wrong(c) == _wrong(a) and c.verdict == a.verdict


@pytest.mark.parametrize("max_evals", [1, 2, 60, 120, 200, 300, 450, 700])
def test_the_budget_bounds_every_evaluation_and_what_it_does_not_reach_is_inconclusive(max_evals):
    g = _planted("scattered")
    res = _screen(g, max_evals=max_evals)
    assert res.n_evals <= max_evals
    unbounded = _screen(g)
    if max_evals >= unbounded.n_evals:
        assert res.n_evals == unbounded.n_evals and _wrong(res) == _wrong(unbounded)
        return
    assert res.verdict in ("wrong", "inconclusive")
    assert _wrong(res) <= _wrong(unbounded)  # what it names is right, only less of it
    stopped = res.blocks[res.blocks["note"].str.contains("budget")]
    assert len(stopped) or res.verdict == "wrong"
    if res.verdict == "inconclusive":
        assert f"max_evals={max_evals}" in res.reason
    for verdict in res.blocks.loc[res.blocks["note"].str.contains("before this block was screened"), "verdict"]:
        assert verdict == "inconclusive"


def test_a_budget_that_holds_the_screen_passes_a_correct_gradient():
    res = _screen(G, max_evals=_screen_evals(4))
    assert res.passed
    short = _screen(G, max_evals=100)
    assert short.verdict == "inconclusive" and short.n_evals <= 100
    assert "before this block was screened" in " ".join(short.blocks["note"])


def test_a_step_asked_for_is_the_group_tests_step():
    g = _planted("one")
    res = _screen(g, eps=1e-5)
    assert _wrong(res) == _wrong(_screen(g)) and res.spent["screen"] == 4 * screen.SCREEN_DIRS * 2 * 2
    assert _screen(G, eps=1e-5).passed


def test_a_jitted_cost_is_screened_on_the_parallel_kernels():
    theta = np.linspace(-1.5, 1.2, 3000)
    layout = fc.Layout.from_shapes({"a": (2000,), "b": (1000,)})
    res = fc.check_gradient(quartic, theta, quartic_grad(theta, 0.5), args=(0.5,), layout=layout, strategy="screen")
    assert res.path.startswith("parallel") and res.passed and res.n_evals == _screen_evals(2)


def test_the_pool_gives_the_numbers_of_the_serial_loop():
    g = _planted("one")
    serial = _screen(g)
    pooled = fc.check_gradient(NET.cost, NET.theta, g, layout=LAYOUT, strategy="screen", jit=False, workers=2)
    assert pooled.tests.equals(serial.tests) and _wrong(pooled) == _wrong(serial)


def test_dask_gives_the_numbers_of_the_serial_loop():
    import warnings

    distributed = pytest.importorskip("distributed")
    g = _planted("one")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            on_dask = fc.check_gradient(NET.cost, NET.theta, g, layout=LAYOUT, strategy="screen", jit=False,
                                        client=client)
    assert "dask" in on_dask.path.lower()
    assert on_dask.tests.equals(_screen(g).tests) and _wrong(on_dask) == _wrong(_screen(g))


def test_check_model_and_the_adapters_take_the_strategy():
    # the built-in network: group tests on its jitted cost, the confirmation on the structure-aware kernel
    model = fc.models.MLP([30, 20, 3], activations="tanh")
    theta = model.init(0)
    X, y = model.sample_data(4, seed=0)
    for m in (model, model.mutant("activation_derivative")):
        full = fc.check_model(m, theta, X, y)
        res = fc.check_model(m, theta, X, y, strategy="screen")
        assert res.verdict == full.verdict and res.wrong_blocks == full.wrong_blocks
        # what the screen confirms wrong, the full check found wrong or left unrefined in a wrong block
        assert _wrong(res) <= _wrong(full) | _unrefined(full)
    from tests.naive import SeedNetwork, seed_data

    X, y = seed_data()
    for broken in (False, True):
        full = fc.check_object(SeedNetwork(broken=broken), X, y, workers=1)
        res = fc.check_object(SeedNetwork(broken=broken), X, y, strategy="screen", workers=1)
        assert res.verdict == full.verdict and res.wrong_blocks == full.wrong_blocks


def test_options_that_do_not_apply_are_refused():
    with pytest.raises(ValueError, match="strategy must be one of"):
        fc.check_gradient(NET.cost, NET.theta, G, strategy="fast")
    with pytest.raises(ValueError, match="max_evals= bounds a screen"):
        fc.check_gradient(NET.cost, NET.theta, G, max_evals=100)
    with pytest.raises(ValueError, match="max_evals must be a positive integer"):
        _screen(G, max_evals=0)
    with pytest.raises(ValueError, match="covers every coordinate"):
        _screen(G, sample=3)
    with pytest.raises(ValueError, match="directional check"):
        fc.check_directional(NET.cost, NET.theta, G, strategy="screen")
    with pytest.raises(ValueError, match="numerical_gradient"):
        fc.numerical_gradient(NET.cost, NET.theta, strategy="screen")
    with pytest.raises(ValueError, match="check_hessian differences every coordinate"):
        fc.check_hessian(NET.cost, NET.theta[:3], np.eye(3), strategy="screen")
    with pytest.raises(ValueError, match="check_hvp differences every coordinate"):
        fc.check_hvp(NET.cost, NET.theta, lambda t, v: v, grad=NET.grad, strategy="screen")


def test_the_command_line_screens(capsys):
    from pathlib import Path

    from fastcheck.cli import main
    from tests.strictjson import loads as strict_json

    data = Path(__file__).resolve().parents[1] / "data"
    code = main(["check", f"{data / 'seed_object.py'}:make_broken", "--strategy", "screen", "--json"])
    result = strict_json(capsys.readouterr().out)
    assert code == 1 and result["strategy"] == "screen" and result["verdict"] == "wrong"
    assert {"tests", "detectable", "detectable_rel"} <= set(result["blocks"][0]) and result["n_tests"] > 0
    code = main(["check", "--model", "mlp", "--sizes", "30,20,3", "--batch", "4", "--strategy", "screen",
                 "--max-evals", "150"])
    out = capsys.readouterr().out
    assert code == 0 and "would have been caught" in out and "of max_evals=150" in out
    assert main(["check", "--model", "tutorial", "--max-evals", "10"]) == 2
