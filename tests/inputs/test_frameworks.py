"""The framework-independent core of check_torch/check_jax: an op given as NumPy forward and VJP (no framework)."""
import numpy as np
import pytest

from fastcheck.core.options import CheckOptions
from fastcheck.errors import LayerError
from fastcheck.inputs.frameworks import ProjectedOp, check_op, draw_douts, inner

SPECIFIC = {"dout": None, "n_douts": 1}


def _opts(**kw):
    return CheckOptions.build("check_op", {"workers": 1, **kw}, SPECIFIC)


def _affine(dtype, bug=False):
    rng = np.random.default_rng(0)
    blocks = {"x": rng.standard_normal((3, 4)).astype(dtype), "w": rng.standard_normal((4, 2)).astype(dtype)}

    def forward(arrays):
        x, w = arrays
        return [np.tanh(x @ w), (x ** 2).sum(axis=1)]

    def vjp(douts):
        d1, d2 = douts
        x, w = blocks["x"].astype(np.float64), blocks["w"].astype(np.float64)
        dz = d1 * (1 - np.tanh(x @ w) ** 2)
        dx = dz @ w.T + (0 if bug else 2 * x * d2[:, None])  # bug: the second output's term left out
        return {"x": dx, "w": x.T @ dz}

    return forward, vjp, blocks


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_right_vjp_passes_and_a_missing_term_is_named(dtype):
    forward, vjp, blocks = _affine(dtype)
    ok = check_op(forward, vjp, blocks, _opts(), "check_op")
    assert ok.passed and ok.dtype == np.dtype(dtype).name
    forward, vjp, blocks = _affine(dtype, bug=True)
    bad = check_op(forward, vjp, blocks, _opts(), "check_op")
    assert bad.wrong_blocks == ["x"]


def test_douts_are_rounded_to_each_outputs_dtype_and_phi_uses_the_same_values():
    outs = [np.zeros((2, 3), np.float32), np.zeros(4, np.float64)]
    (d32, d64), = draw_douts(outs, None, 1, seed=5)
    assert d32.dtype == np.float64 and np.array_equal(d32, d32.astype(np.float32))
    raw = np.random.default_rng(5).standard_normal((2, 3))
    assert not np.array_equal(d32, raw) and np.allclose(d32, raw, rtol=1e-7)
    assert inner([d32, d64], [np.ones((2, 3), np.float32), np.ones(4)]) == pytest.approx(d32.sum() + d64.sum())


def test_the_projection_reuses_unperturbed_copies_but_always_runs_one_forward():
    calls = []

    def forward(arrays):
        calls.append(arrays[0].copy())
        return [2 * arrays[0]]

    from fastcheck.core.layout import Layout

    x = np.array([1.0, 2.0])
    draws = [[np.array([1.0, 0.0])], [np.array([0.0, 1.0])]]
    phi = ProjectedOp(forward, Layout(("x",), ((2, 2),)), ["x"], [np.float64], draws, [x], [2.0, 4.0])
    theta = np.concatenate([x, x])
    assert phi(theta) == 6.0 and len(calls) == 1
    theta[0] += 0.5  # copy 0 perturbed: only its term is recomputed
    assert phi(theta) == 7.0 and len(calls) == 2 and calls[-1][0] == 1.5


def test_bad_blocks_and_douts_are_refused():
    forward, vjp, blocks = _affine(np.float64)
    with pytest.raises(LayerError, match="float64, float32, float16 and bfloat16 can be checked"):
        check_op(forward, vjp, {**blocks, "x": blocks["x"].astype(np.int32)}, _opts(), "check_op")
    with pytest.raises(LayerError, match="a float16 input is checked with inputs of its own format only"):
        check_op(forward, vjp, {**blocks, "x": blocks["x"].astype(np.float16)}, _opts(), "check_op")
    with pytest.raises(LayerError, match="dout has 1 array"):
        check_op(forward, vjp, blocks, _opts(dout=np.ones((3, 2))), "check_op")
    with pytest.raises(LayerError, match="not both"):
        check_op(forward, vjp, blocks, _opts(dout=[np.ones((3, 2)), np.ones(3)], n_douts=2), "check_op")
