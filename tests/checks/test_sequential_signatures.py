"""check_sequential takes grads(params) or grads(params, x); misfits get a clear error, user TypeErrors pass."""
import numpy as np
import pytest

import fastcheck as fc


def _net():
    rng = np.random.default_rng(0)
    params = {"W": rng.normal(size=(3, 4)), "b": rng.normal(size=4)}
    x = rng.normal(size=(5, 3))
    stages = [(lambda a, W, b: np.tanh(a @ W + b), ("W", "b")), (lambda a: 0.5 * float(np.sum(a**2)), ())]

    def grads_px(p, x):
        z = x @ p["W"] + p["b"]
        a = np.tanh(z)
        dz = a * (1 - a**2)
        return {"dW": x.T @ dz, "db": dz.sum(0)}

    return stages, params, x, grads_px


def test_grads_with_or_without_x():
    stages, params, x, g = _net()
    assert fc.check_sequential(stages, params, x, g, workers=1).passed
    assert fc.check_sequential(stages, params, x, lambda p: g(p, x), workers=1).passed


def test_grads_params_only_with_a_planted_bug_is_named():
    stages, params, x, g = _net()

    def buggy(p):
        out = g(p, x)
        out["db"] = out["db"] * 2
        return out

    res = fc.check_sequential(stages, params, x, buggy, workers=1)
    assert not res.passed
    bad = res.blocks.set_index("block")["verdict"]
    assert bad["W"] in ("great", "ok") and bad["b"] == "wrong"


def test_grads_of_wrong_signature():
    stages, params, x, _ = _net()
    with pytest.raises(TypeError, match=r"grads must take \(params\) or \(params, x\)"):
        fc.check_sequential(stages, params, x, lambda a, b, c: {}, workers=1)


def test_type_error_inside_grads_is_not_swallowed():
    stages, params, x, _ = _net()

    class Opaque:  # no signature Python can read: the call is tried
        __signature__ = property(lambda self: (_ for _ in ()).throw(ValueError("no signature")))

        def __call__(self, *args):
            if len(args) == 2:
                raise TypeError("unsupported operand inside user code")
            return {}

    with pytest.raises(TypeError, match="inside user code"):
        fc.check_sequential(stages, params, x, Opaque(), workers=1)


def test_stage_of_wrong_signature_names_the_stage():
    stages, params, x, g = _net()
    stages[0] = (lambda a, W: a @ W, ("W", "b"))
    with pytest.raises(fc.StageError, match=r"stage 0 must take \(a, W, b\)"):
        fc.check_sequential(stages, params, x, g, workers=1)
