"""check_layer and check_jacobian on layers written in the course style (tests/layers_ref.py)."""
from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest

from fastcheck import GradientMismatchError, LayerError, ShapeNoteWarning
from fastcheck.inputs.layers import check_jacobian, check_layer
from tests import layers_ref as L

CASES = L.layer_cases()


def naive_vjp_numerical(forward, inputs, args, douts, name, h=1e-5):
    """The course's loop: perturb one entry of one input, difference ⟨dout, f⟩ (its own code, not fastcheck's)."""
    x = {k: v.copy() for k, v in inputs.items()}
    grad = np.zeros_like(x[name])
    it = np.nditer(x[name], flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[name][i]
        vals = []
        for s in (+1, -1):
            x[name][i] = old + s * h
            out = forward(*x.values(), *args)
            outs = out[:-1] if isinstance(out, tuple) else (out,)
            vals.append(sum(float(np.sum(d * o)) for d, o in zip(douts, outs)))
        x[name][i] = old
        grad[i] = (vals[0] - vals[1]) / (2 * h)
    return grad


def _snapshot(inputs):
    return {k: v.copy() for k, v in inputs.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_a_correct_layer_passes_with_blocks_named_after_its_inputs(name):
    forward, backward, inputs, args, _, _ = CASES[name]
    keep = _snapshot(inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShapeNoteWarning)  # batchnorm's (1, D) gradients
        res = check_layer(forward, backward, inputs, args=args)
    assert res.passed, f"{name}: {res}"
    assert list(res.blocks["block"]) == list(inputs)
    for k in inputs:  # nothing the user passed is modified
        np.testing.assert_array_equal(inputs[k], keep[k])


@pytest.mark.parametrize("name", list(CASES))
def test_a_planted_bug_fails_and_names_its_block(name):
    forward, backward, inputs, args, bug, block = CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShapeNoteWarning)
        res = check_layer(forward, functools.partial(backward, bug=bug), inputs, args=args)
    assert not res.passed, f"{name}: the planted bug in {block} passed"
    assert res.failing_blocks == [block], f"{name}: {res.failing_blocks}"


@pytest.mark.parametrize("name", ["affine", "conv", "lstm"])
def test_the_numbers_are_the_naive_loops(name):
    """fastcheck's numerical VJP against the course's loop written out here: the same central
    differences of ⟨dout, f⟩, equal up to how each rounds (step h, cost values of size |φ|)."""
    forward, backward, inputs, args, _, _ = CASES[name]
    out = forward(*inputs.values(), *args)
    n_out = len(out) - 1 if isinstance(out, tuple) else 1
    rng = np.random.default_rng(11)
    douts = [rng.standard_normal(np.shape(o)) for o in (out[:-1] if isinstance(out, tuple) else (out,))]
    h = 1e-5
    res = check_layer(forward, backward, inputs, args=args, dout=douts if n_out > 1 else douts[0], eps=h)
    num = res.layout.unflatten(res.numerical) if hasattr(res, "layout") else None
    offset = 0
    for k, x in inputs.items():
        ref = naive_vjp_numerical(forward, inputs, args, douts, k, h)
        got = res.numerical[offset:offset + x.size].reshape(x.shape) if num is None else num[k]
        offset += x.size
        phi = sum(float(np.sum(np.abs(d * o))) for d, o in zip(douts, out[:-1] if isinstance(out, tuple) else (out,)))
        np.testing.assert_allclose(got, ref, rtol=1e-7, atol=64 * np.finfo(float).eps * phi / h, err_msg=f"{name} {k}")


def test_several_douts_give_a_leading_axis_and_catch_the_bug():
    forward, backward, inputs, args, bug, block = CASES["rnn"]
    res = check_layer(forward, backward, inputs, args=args, n_douts=3)
    assert res.passed, str(res)
    assert res.layout.shapes[0] == (3,) + inputs["x"].shape
    bad = check_layer(forward, functools.partial(backward, bug=bug), inputs, args=args, n_douts=3)
    assert bad.failing_blocks == [block]
    worst_block, worst_index = bad.worst(1).iloc[0][["block", "index"]]
    assert worst_block == block and worst_index.count(",") == 2  # [draw, row, column]


def test_a_backward_that_writes_into_dout_and_cache_changes_only_copies():
    forward, backward, inputs, args, _, _ = CASES["lstm"]
    out = forward(*inputs.values())
    d_h, d_c = np.ones_like(out[0]), np.full_like(out[1], 0.5)
    keep_h, keep_c = d_h.copy(), d_c.copy()
    res = check_layer(forward, backward, inputs, dout=(d_h, d_c))
    assert res.passed, str(res)
    np.testing.assert_array_equal(d_h, keep_h)
    np.testing.assert_array_equal(d_c, keep_c)  # lstm_step_backward does dnext_c += ... on its copy


def test_singleton_axes_are_accepted_with_a_note():
    forward, backward, inputs, args, _, _ = CASES["batchnorm"]
    with pytest.warns(ShapeNoteWarning, match=r"\(1, 5\).*\(5,\)"):
        res = check_layer(forward, backward, inputs, args=args)
    assert res.passed


# -- bad input: one clear error naming the input ------------------------------------------------------------
def test_bad_input_names_what_is_wrong():
    forward, backward, inputs, args, _, _ = CASES["affine"]
    with pytest.raises(LayerError, match="input 'w' must be a float array"):
        check_layer(forward, backward, {**inputs, "w": np.ones((6, 3), dtype=int)})
    with pytest.raises(LayerError, match="non-empty dict"):
        check_layer(forward, backward, [inputs["x"]])
    with pytest.raises(LayerError, match="input 'x' contains NaN"):
        check_layer(forward, backward, {**inputs, "x": np.full((4, 2, 3), np.nan)})
    # the backward pass's gradients are read by Layout.flatten_gradients: GradientMismatchError (a ValueError,
    # no longer a LayerError) for every entry point
    with pytest.raises(GradientMismatchError, match="backward's gradient has 2 array"):
        check_layer(forward, lambda d, c: backward(d, c)[:2], inputs)
    with pytest.raises(GradientMismatchError, match="block 'w' \\(array 1\\) has shape \\(3, 6\\)"):
        check_layer(forward, lambda d, c: (backward(d, c)[0], backward(d, c)[1].T, backward(d, c)[2]), inputs)
    with pytest.raises(GradientMismatchError, match="backward's gradient for block 'b' is missing"):
        check_layer(forward, lambda d, c: dict(zip(("dx", "dw", "bias"), backward(d, c))), inputs)
    with pytest.raises(LayerError, match="dout for output 0 has shape \\(2, 3\\)"):
        check_layer(forward, backward, inputs, dout=np.ones((2, 3)))
    with pytest.raises(LayerError, match="forward output 0 is str"):
        check_layer(lambda x, w, b: ("out", None), backward, inputs)
    with pytest.raises(LayerError, match="n_douts"):
        check_layer(forward, backward, inputs, n_douts=0)


def test_gradients_as_a_dict_keyed_by_names():
    forward, backward, inputs, args, _, _ = CASES["affine"]
    res = check_layer(forward, lambda d, c: dict(zip(("x", "w", "b"), backward(d, c))), inputs)
    assert res.passed


# -- check_jacobian ---------------------------------------------------------------------------------------------
def polar(x):
    r, t = x
    return np.array([r * np.cos(t), r * np.sin(t), r * r * t])


def polar_jac(x):
    r, t = x
    return np.array([[np.cos(t), -r * np.sin(t)], [np.sin(t), r * np.cos(t)], [2 * r * t, r * r]])


def test_check_jacobian_passes_and_names_the_wrong_entry():
    x = np.array([1.3, 0.4])
    keep = x.copy()
    res = check_jacobian(polar, x, polar_jac)
    assert res.passed and res.layout.shapes == ((3, 2),)
    np.testing.assert_allclose(res.numerical.reshape(3, 2), polar_jac(x), rtol=1e-8)
    J = polar_jac(x)
    J[2, 1] *= 1.01
    bad = check_jacobian(polar, x, J)
    assert not bad.passed
    assert bad.worst(1).iloc[0]["index"] == "[2,1]"  # [output, input]
    np.testing.assert_array_equal(x, keep)


def test_check_jacobian_evaluates_each_point_once():
    x0 = np.array([1.3, 0.4])
    calls = []

    def f(x):
        calls.append(x.copy())
        return polar(x)

    check_jacobian(f, x0, polar_jac)
    moved = [c for c in calls if not np.array_equal(c, x0)]
    # ±h on each of the two inputs, each point evaluated once and shared by the three outputs
    assert len(moved) == 2 * 2 and len({c.tobytes() for c in moved}) == 4


def test_check_jacobian_bad_input():
    with pytest.raises(LayerError, match="jac has shape"):
        check_jacobian(polar, np.array([1.3, 0.4]), np.ones((2, 3)))
    with pytest.raises(LayerError, match="input 'x' must be a float array"):
        check_jacobian(polar, np.array([1, 2]), polar_jac)
    with pytest.raises(LayerError, match="non-empty numeric array"):
        check_jacobian(lambda x: "a", np.array([1.0, 2.0]), polar_jac)


# -- reseed=: forward and backward at the checked point see the draws of every perturbed forward ----------------
def _dropout_forward(x, p):
    mask = (np.random.rand(*x.shape) < p["keep"]) / p["keep"]
    return x * mask, mask


def _dropout_backward(dout, mask, bug=False):
    return dout * (mask * 1.003 if bug else mask)


def test_reseed_makes_a_functional_dropout_checkable():
    x = np.random.default_rng(7).normal(size=(6, 5))
    keep = x.copy()
    res = check_layer(_dropout_forward, _dropout_backward, {"x": x}, args=({"keep": 0.6},), reseed=0)
    assert res.passed, str(res)
    np.testing.assert_array_equal(x, keep)
    bad = check_layer(_dropout_forward, functools.partial(_dropout_backward, bug=True), {"x": x},
                      args=({"keep": 0.6},), reseed=0)
    assert bad.failing_blocks == ["x"]


def test_reseed_in_check_jacobian():
    def noisy(x):
        return np.tanh(x) * (np.random.rand(x.size) < 0.7)

    def noisy_jac(x, bug=1.0):
        return np.diag((1 - np.tanh(x) ** 2) * (np.random.rand(x.size) < 0.7)) * bug

    x = np.linspace(-1, 1, 8)
    assert check_jacobian(noisy, x, noisy_jac, reseed=3).passed
    assert check_jacobian(noisy, x, functools.partial(noisy_jac, bug=1.003), reseed=3).failing_blocks == ["J"]


def _relu_affine(x, w, b):
    return np.maximum(x @ w + b, 0), (x, w, b)


def _relu_affine_back(scale):
    def backward(dout, cache):
        x, w, b = cache
        dz = dout * ((x @ w + b) > 0)
        return dz @ w.T, (x.T @ dz) * np.float32(scale), dz.sum(0)
    return backward


def test_a_float32_relu_layer_near_its_corners_is_not_called_wrong_but_a_small_bug_is():
    # batch 1000: some ReLU inputs sit closer to 0 than any float32 step can pass under, and a weight moves
    # 1000 of them; the real steps read an averaged slope there, the complex step the analytic one
    r = np.random.default_rng(0)
    x = r.normal(size=(1000, 20)).astype(np.float32)
    w = (r.normal(size=(20, 10)) * 0.3).astype(np.float32)
    inputs = {"x": x, "w": w, "b": np.zeros(10, np.float32)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ok = check_layer(_relu_affine, _relu_affine_back(1.0), inputs, workers=1)
        bad = check_layer(_relu_affine, _relu_affine_back(1.003), inputs, workers=1)
    assert ok.verdict != "wrong", ok.summary()
    assert bad.verdict == "wrong" and "w" in bad.summary().split("wrong in")[1].split(":")[0], bad.summary()
