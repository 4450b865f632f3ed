"""The built-in networks checked interpreted (small ones, nothing compiled) and compiled: the same function.

``fastcheck.config.interpreted`` runs the kernels' own source in Python; these tests run both paths on
the same networks and points and compare them.  Both run the same operations in the same order on the
same IEEE doubles, so they agree to a few units of rounding (only library functions such as ``exp``
may round their last bit differently); the verdicts must be identical.
"""
import numpy as np
import pytest

from fastcheck import check_model, config
from fastcheck.evaluators.structured import LayeredEvaluator
from fastcheck.models import MLP, MUTANTS, tutorial_network

NETWORKS = {
    "tutorial": lambda: tutorial_network(seed=0),
    "deep-bias-l2-dropout": lambda: _net(MLP([3, 4, 3, 2], activations=["tanh", "relu", "sigmoid"], loss="softmax_ce",
                                             l2=0.1, keep_prob=0.8), batch=5),
    "mse-softplus": lambda: _net(MLP([2, 5, 2], activations=["softplus", "identity"], loss="mse"), batch=4),
}


def _net(model, batch):
    X, y = model.sample_data(batch, seed=1)
    return model, model.init(1), X, y


def _compile_mode(monkeypatch, mode):
    monkeypatch.setattr(config, "COMPILE", mode)


def _ulps(scale, n=64):
    """A bound of n roundings at the magnitude ``scale`` (both paths round the same operations)."""
    return n * np.finfo(np.float64).eps * (np.abs(scale) + np.finfo(np.float64).tiny)


@pytest.fixture(scope="module", params=sorted(NETWORKS))
def network(request):
    return NETWORKS[request.param]()


def _both(monkeypatch, fn):
    _compile_mode(monkeypatch, "never")
    monkeypatch.setattr(LayeredEvaluator, "default_form", "interpreted")  # not the NumPy form (test_vector.py)
    slow = fn()
    _compile_mode(monkeypatch, "always")
    monkeypatch.setattr(LayeredEvaluator, "default_form", None)
    return slow, fn()


def test_interpreted_and_compiled_kernels_give_the_same_costs_and_kinks(network, monkeypatch):
    model, theta, X, y = network
    coords = np.arange(model.n_params, dtype=np.int64)
    steps = np.full(len(coords), 1e-4)
    offsets = np.array([-2.0, -1.0, 1.0, 2.0])

    def run():
        ev = LayeredEvaluator(model, X, y)
        out = ev.stencil(theta, coords, steps, offsets)
        return ev.path, out, ev.kinks(theta, coords, steps), ev.complex_step(theta, coords, steps), ev.value(theta)

    (p1, out1, k1, c1, v1), (p2, out2, k2, c2, v2) = _both(monkeypatch, run)
    assert (p1, p2) == ("structured, interpreted", "structured")
    np.testing.assert_array_less(np.abs(out1 - out2), _ulps(out2))
    assert np.array_equal(k1, k2)
    np.testing.assert_array_less(np.abs(c1 - c2), _ulps(np.abs(c2).max()))
    assert abs(v1 - v2) <= _ulps(v2)


def test_interpreted_and_compiled_backprop_agree_for_every_mutant(network, monkeypatch):
    model, theta, X, y = network
    for name in [None, *sorted(MUTANTS)]:
        m = model if name is None else model.mutant(name)
        g1, g2 = _both(monkeypatch, lambda m=m: m.grad(theta, X, y))
        np.testing.assert_array_less(np.abs(g1 - g2), _ulps(np.abs(g2).max()), err_msg=str(name))


def test_checks_give_the_same_verdicts_interpreted_and_compiled(monkeypatch):
    model, theta, X, y = tutorial_network(seed=0)
    for name in [None, *sorted(MUTANTS)]:
        m = model if name is None else model.mutant(name)
        for scheme in ("central", "complex"):
            r1, r2 = _both(monkeypatch, lambda m=m, s=scheme: check_model(m, theta, X, y, scheme=s))
            assert r1.path == "structured, interpreted" and r2.path == "structured"
            assert (r1.verdict, list(r1.blocks["verdict"])) == (r2.verdict, list(r2.blocks["verdict"])), (name, scheme)
            assert np.array_equal(r1.status_code, r2.status_code)
            assert r1.compile_seconds == 0.0


FRESH = """
import json
import numpy as np
from fastcheck import check_model
from fastcheck.evaluators.structured import LayeredEvaluator
from fastcheck.kernels import richardson
from fastcheck.models import MLP, backprop, layered, mutant_backprop, tutorial_network

model, theta, X, y = tutorial_network(seed=0)
good = check_model(model, theta, X, y)
bad = check_model(model.mutant("activation_derivative"), theta, X, y)
kernels = (layered.layered_costs, layered.layered_complex_step, backprop.mlp_cost, backprop.mlp_grad,
           mutant_backprop.mlp_grad, richardson.table)
big = MLP([784, 128, 10], activations="sigmoid", loss="sse")
print(json.dumps({"paths": [good.path, bad.path], "verdicts": [good.verdict, bad.verdict],
                  "compile_seconds": [good.compile_seconds, bad.compile_seconds],
                  "compiled": sum(len(k.signatures) for k in kernels),
                  "big": LayeredEvaluator(big, *big.sample_data(64)).path}))
"""


def test_a_fresh_process_checks_the_tutorial_network_without_compiling_and_a_large_one_in_numpy(tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, FASTCHECK_COMPILE="auto", NUMBA_CACHE_DIR=str(tmp_path),
               PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", FRESH], env=env, capture_output=True, text=True, check=True, cwd=root)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["paths"] == ["structured, interpreted"] * 2
    assert got["verdicts"][0] in config.PASSING and got["verdicts"][1] == "wrong"
    assert got["compile_seconds"] == [0.0, 0.0] and got["compiled"] == 0  # not one kernel compiled
    # 100k coordinates: interpreting would not pay, nor compiling: the NumPy form, nothing to compile
    assert got["big"] == "structured, NumPy"
