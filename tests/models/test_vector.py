"""The NumPy form of the structure-aware kernel (fastcheck/models/layered/vector.py, vpass.py, series.py).

References: the brute-force network of ``tests/naive.py`` at every perturbed point
(:func:`tests.naive.mlp_perturbed_costs`, :func:`tests.naive.mlp_kinks`) and the compiled kernel
on the same points; then whole checks on both forms, which must give the same verdicts and
per-block statuses on the correct networks and on every planted bug.  The suite runs with
``FASTCHECK_COMPILE=always``: the NumPy form is asked for explicitly (``form="numpy"``, or
``LayeredEvaluator.default_form`` for a whole :func:`fastcheck.check_model`).
"""
import json

import numpy as np
import pytest

from fastcheck import check_model, config
from fastcheck.cli import main
from fastcheck.evaluators import structured
from fastcheck.evaluators.structured import LayeredEvaluator
from fastcheck.models import ACTIVATIONS, LOSSES, MLP, MUTANTS, layered
from fastcheck.models.layered import series, vector, vpass
from tests import naive

ACTS = list(ACTIVATIONS)
LOSS_NAMES = list(LOSSES)

# every activation × every loss at depth 2 (the output layer's coordinates and the rank-1 path, the
# polynomial for sigmoid outputs under sse/mse), every activation at depth 3 (the products) and 1,
# with L2 and dropout on some, and a network without biases
GRID = [((4, 5, 3), a, loss, 0.1 if i % 2 else 0.0, 0.7 if i % 3 == 0 else 1.0, True)
        for i, (a, loss) in enumerate((a, loss) for a in ACTS for loss in LOSS_NAMES)]
GRID += [((3, 5, 4, 3), a, LOSS_NAMES[i % 4], 0.1, 0.7, True) for i, a in enumerate(ACTS)]
GRID += [((4, 3), a, "bce", 0.0, 1.0, True) for a in ("sigmoid", "relu")]
GRID += [((4, 6, 3), ["tanh", "sigmoid"], "sse", 0.1, 1.0, False), ((3, 6, 4, 2), "sigmoid", "mse", 0.0, 1.0, True)]


def _gid(p):
    sizes, a, loss, l2, kp, bias = p
    return f"{'x'.join(map(str, sizes))}-{a if isinstance(a, str) else '/'.join(a)}-{loss}-l2{l2}-keep{kp}-bias{bias}"


def _build(sizes, act, loss, l2, kp, bias, batch=6, seed=0):
    model = MLP(sizes, activations=act, loss=loss, l2=l2, keep_prob=kp, dropout_seed=seed + 1, bias=bias)
    theta = model.init(seed=seed + 2)
    X, y = model.sample_data(batch, seed=seed + 3)
    return model, theta, *model.validate_data(X, y)


def _compiled(model, theta, args, coords, steps, offsets):
    out = np.empty((len(coords), len(offsets)))
    kinks = np.zeros(len(coords), np.bool_)
    with config.single_threaded_blas():
        layered.kernels_for(model.arch)[0](theta, *args, coords, steps, offsets, np.int64(2), out, kinks)
    return out, kinks


# small moves take the small-move polynomials, the sigmoid column's cubic and the output polynomial;
# large ones the plain activations and the general path (the polynomial refuses them)
@pytest.mark.parametrize("step", [1e-5, 0.3], ids=["small moves", "large moves"])
@pytest.mark.parametrize("params", GRID, ids=[_gid(p) for p in GRID])
def test_numpy_form_is_the_perturbed_cost(params, step):
    model, theta, X, Y = _build(*params)
    args = model.cost_args(X, Y)
    coords = np.arange(model.n_params, dtype=np.int64)
    steps = np.full(len(coords), step)
    offsets = np.array([-2.0, -1.0, 1.0, 2.0])
    out, kinks = vector.vector_costs(theta, *args, coords, steps, offsets)
    ref = naive.mlp_perturbed_costs(model, theta, X, Y, coords, steps, offsets)
    # as the compiled kernel is tested (tests/models/test_columns.py): every cost to the round-off of
    # a forward pass, whose longest sums are the batch and the fan-ins
    tol = naive.roundoff(len(X) + sum(model.sizes))
    np.testing.assert_allclose(out, ref, rtol=tol, atol=1e-15)
    comp, ckinks = _compiled(model, theta, args, coords, steps, offsets)
    J0 = float(np.abs(ref).max())
    # the compiled kernel computes the same exact-to-rounding changes: the forms agree on the costs and
    # on their differences (what a stencil reads) to that round-off of J, not to the step's truncation
    np.testing.assert_allclose(out, comp, rtol=0, atol=tol * J0)
    np.testing.assert_allclose(out[:, 2] - out[:, 1], comp[:, 2] - comp[:, 1], rtol=0, atol=2 * tol * J0)
    np.testing.assert_array_equal(kinks, ckinks)
    np.testing.assert_array_equal(kinks, naive.mlp_kinks(model, theta, X, coords, steps, offsets))
    J = naive.mlp_perturbed_costs(model, theta, X, Y, [0], [0.0], [1.0])[0, 0]  # θ itself
    assert vector.vector_value(theta, *args) == pytest.approx(J, rel=tol)


def test_the_polynomial_is_taken_and_refused_where_it_should_be():
    model, theta, X, Y = _build((6, 8, 3), "sigmoid", "sse", 0.0, 1.0, True)
    args = model.cost_args(X, Y)
    cache = vpass.forward_pass(theta, *args)
    assert series.takes_series(model.arch, model.loss_code, 0) and not series.takes_series(model.arch,
                                                                                          model.loss_code, 1)
    P, wmax = series.output_polynomials(theta, model.arch, Y, cache)
    i = np.arange(6, dtype=np.int64)
    for step, taken in ((1e-6, True), (0.5, False)):
        D, _ = vpass.column_change(cache, model.arch, 0, i, 3, np.full(6, step))
        diff, ok = series.series_rows(P[3], wmax[3], D, model.loss_code)
        assert ok.all() == taken
        if taken:  # the polynomial is the general path's loss change, to its round-off
            ref, _ = vpass.general_rows(theta, Y, model.arch, model.loss_code, 0.0, cache, 0, i, np.full(6, 3),
                                        np.full(6, step))
            np.testing.assert_allclose(diff, ref, rtol=1e-9, atol=naive.roundoff(6 + 17) * cache.J0)


@pytest.mark.parametrize("params", [((5, 7, 4, 3), "tanh", "softmax_ce", 0.1, 0.7, True),
                                    ((5, 9, 4), "sigmoid", "mse", 0.1, 1.0, True)], ids=["general", "polynomial"])
def test_threads_and_blocks_do_not_change_the_numbers(params, monkeypatch):
    model, theta, X, Y = _build(*params, batch=9)
    args = model.cost_args(X, Y)
    coords = np.arange(model.n_params, dtype=np.int64)[::-1].copy()
    steps = np.full(len(coords), 1e-4)
    offsets = np.array([-1.0, 1.0])
    one = vector.vector_costs(theta, *args, coords, steps, offsets, 1)
    two = vector.vector_costs(theta, *args, coords, steps, offsets, 2)
    # many small blocks: bounded scratch, the same numbers
    monkeypatch.setattr(vpass, "ENTRIES", 64)
    monkeypatch.setattr(series, "ENTRIES", 64)
    monkeypatch.setattr(vector, "SERIES_ROWS", 3)
    small = vector.vector_costs(theta, *args, coords, steps, offsets, 2)
    for a, b in ((one, two), (one, small)):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_bad_coordinates_and_forms_are_clear_errors():
    model, theta, X, Y = _build((4, 5, 3), "sigmoid", "sse", 0.0, 1.0, True)
    with pytest.raises(ValueError, match="outside the network"):
        vector.vector_costs(theta, *model.cost_args(X, Y), np.array([model.n_params]), np.ones(1), np.ones(1))
    with pytest.raises(ValueError, match="unknown form"):
        LayeredEvaluator(model, X, Y, form="fast")
    with pytest.raises(ValueError, match="float64"):
        LayeredEvaluator(model, X, Y, dtype=np.float32, form="numpy")
    # float32 by estimate: never the NumPy form
    assert LayeredEvaluator(model, X, Y, dtype=np.float32).path == "structured"


# -- whole checks on both forms ------------------------------------------------------------------
def _check(model, theta, X, y, form, monkeypatch, **kw):
    monkeypatch.setattr(LayeredEvaluator, "default_form", form)
    return check_model(model, theta, X, y, **kw)


def _same(a, b):
    assert (a.verdict, a.passed) == (b.verdict, b.passed), (str(a), str(b))
    assert list(a.blocks["verdict"]) == list(b.blocks["verdict"])
    assert list(a.blocks["wrong"]) == list(b.blocks["wrong"])
    # the same kinks; their one-sided slopes agree to the costs' round-off (~1e-15·J) over a step of at least 1e-6
    assert list(a.kinks["coord"]) == list(b.kinks["coord"])
    for col in ("numerical", "left", "right"):
        if col in a.kinks:
            np.testing.assert_allclose(a.kinks[col].astype(float), b.kinks[col].astype(float), rtol=1e-6, atol=1e-9)


CHECKED = [GRID[i] for i in range(0, len(GRID), 3)]


@pytest.mark.parametrize("params", CHECKED, ids=[_gid(p) for p in CHECKED])
def test_check_model_gives_the_same_statuses_on_both_forms(params, monkeypatch):
    model, theta, X, y = _build(*params)
    compiled = _check(model, theta, X, y, "compiled", monkeypatch)  # compiles the backprop, if not yet
    numpy_res = _check(model, theta, X, y, "numpy", monkeypatch)
    assert numpy_res.path == "structured, NumPy" and numpy_res.compile_seconds == 0  # nothing left to compile
    _same(numpy_res, compiled)


MUTANT_NETS = {
    "sigmoid-sse (the polynomial)": {"sizes": (6, 7, 3), "activations": "sigmoid", "loss": "sse", "l2": 0.1,
                                     "keep_prob": 0.8},
    "tanh/relu-softmax_ce, three layers": {"sizes": (5, 6, 4, 3), "activations": ["tanh", "relu", "identity"],
                                           "loss": "softmax_ce", "l2": 0.1, "keep_prob": 0.8},
}


@pytest.mark.parametrize("net", list(MUTANT_NETS))
def test_every_mutant_gets_the_same_verdicts_on_both_forms(net, monkeypatch):
    base = MLP(**MUTANT_NETS[net], dropout_seed=2)
    theta = base.init(seed=4)
    X, y = base.sample_data(8, seed=5)
    caught = 0
    for name, mutant in MUTANTS.items():
        model = base.mutant(name)
        numpy_res = _check(model, theta, X, y, "numpy", monkeypatch)
        _same(numpy_res, _check(model, theta, X, y, "compiled", monkeypatch))
        if mutant.visible(model, len(X)):
            assert not numpy_res.passed, (name, str(numpy_res))  # the planted bug is caught
            caught += 1
    assert caught >= 5
    _same(_check(base, theta, X, y, "numpy", monkeypatch), _check(base, theta, X, y, "compiled", monkeypatch))


def test_what_the_numpy_form_does_not_cover_falls_back(monkeypatch):
    """The complex step and directional checks run the compiled (or interpreted) kernel beside it."""
    model, theta, X, y = _build((4, 5, 3), "tanh", "bce", 0.1, 1.0, True)
    for kw in ({"scheme": "complex"}, {"directions": 3, "seed": 1}):
        got = _check(model, theta, X, y, "numpy", monkeypatch, **kw)
        ref = _check(model, theta, X, y, "compiled", monkeypatch, **kw)
        assert got.passed and got.verdict == ref.verdict
        np.testing.assert_allclose(got.numerical, ref.numerical, rtol=1e-8, atol=1e-12)
    bad = _check(model.mutant("bias_axis"), theta, X, y, "numpy", monkeypatch, scheme="complex")
    assert not bad.passed


def test_the_estimate_picks_the_numpy_form_where_compiling_does_not_pay(monkeypatch):
    big = MLP([784, 128, 10])
    # the whole check of 784-128-10 in NumPy: far under a compilation, far over nothing
    fast = vector.numpy_seconds(big.arch, big.loss_code, 64, big.n_params, 8, structured.CALLS_PER_CHECK)
    assert 0.1 < fast < structured.COLD_KERNEL / 4
    work = structured.interpreted_kernel_seconds(big, 64, big.n_params, 8, structured.CALLS_PER_CHECK)
    assert work > structured.COLD_KERNEL
    # without the polynomial (relu and softmax_ce: 10 outputs per row) NumPy is no longer the quicker
    deep = MLP([784, 256, 64, 10], "relu", "softmax_ce")
    assert vector.numpy_seconds(deep.arch, deep.loss_code, 64, deep.n_params, 8, 10) > structured.COLD_KERNEL
    X, y = big.sample_data(64, seed=1)
    monkeypatch.setattr(config, "COMPILE", "never")  # compiling forbidden, as on a first run where it does not pay
    assert LayeredEvaluator(big, X, y).path == "structured, NumPy"
    monkeypatch.setattr(config, "COMPILE", "always")
    assert LayeredEvaluator(big, X, y).path == "structured"


def test_cli_json_reports_the_numpy_form_with_no_compile_time(capsys, monkeypatch):
    monkeypatch.setattr(LayeredEvaluator, "default_form", "numpy")
    base = ["check", "--model", "mlp", "--sizes", "8,5,3", "--batch", "4", "--json"]
    assert main(base) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["path"] == "structured, NumPy" and result["compile_seconds"] == 0 and result["passed"]
    assert main(base[:-1]) == 0
    text = capsys.readouterr().out
    assert "[structured, NumPy]" in text and "compiling" not in text


OPTIONS = [{"scheme": "forward"}, {"scheme": "central4"}, {"eps": "adaptive"}, {"sample": 4, "seed": 3},
           {"strategy": "screen"}, {"eps": 0.3}]


@pytest.mark.parametrize("opts", OPTIONS, ids=[",".join(f"{k}={v}" for k, v in o.items()) for o in OPTIONS])
@pytest.mark.parametrize("net", ["sigmoid-sse", "relu-mse"])
def test_every_option_of_a_check_gives_the_same_statuses_on_both_forms(net, opts, monkeypatch):
    act, loss = net.split("-")
    model, theta, X, y = _build((5, 6, 3), act, loss, 0.1, 1.0, True, batch=7)
    for m in (model, model.mutant("bias_axis")):
        numpy_res = _check(m, theta, X, y, "numpy", monkeypatch, **opts)
        _same(numpy_res, _check(m, theta, X, y, "compiled", monkeypatch, **opts))
        assert numpy_res.path == "structured, NumPy"
