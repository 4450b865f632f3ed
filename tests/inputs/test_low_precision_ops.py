"""check_jax and check_torch in float16 and bfloat16: the op runs in the low format, the check's steps and bars
are the format's.  Right rules pass or are inconclusive, never wrong; in float16, bugs far beyond the format's
resolution (a factor of 2, a missing term, an ignored input) fail naming the input.  In bfloat16 (8 bits) the
bars of these small ops are wider than their gradients: every check is inconclusive, saying so, and none passes
a bug.  (jax and torch each skip apart.)"""
import numpy as np
import pytest

import fastcheck


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((4, 5)), 0.5 * rng.standard_normal((5, 5)), rng.standard_normal(5))


LOW = ["float16", "bfloat16"]


# -- JAX ----------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def jx():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy

    def softplus_rule(factor=1.0):
        @jax.custom_vjp
        def softplus(x):
            return jnp.logaddexp(x, 0.0)

        softplus.defvjp(lambda x: (softplus(x), x), lambda x, g: (factor * g * jax.nn.sigmoid(x),))
        return softplus

    def linear_tanh(drop_bias=False, transpose_bug=False):
        @jax.custom_vjp
        def f(x, w, b):
            return jnp.tanh(x @ w.T + b)

        def fwd(x, w, b):
            y = f(x, w, b)
            return y, (x, w, y)

        def bwd(res, g):
            x, w, y = res
            dz = g * (1 - y * y)
            dw = (dz.T @ x).T if transpose_bug else dz.T @ x
            return dz @ w, dw, jnp.zeros_like(dz[0]) if drop_bias else dz.sum(0)

        f.defvjp(fwd, bwd)
        return f

    def sin_times(ignore_y=False):
        @jax.custom_jvp
        def f(x, y):
            return jnp.sin(x) * y

        @f.defjvp
        def f_jvp(primals, tangents):
            x, y = primals
            dx, dy = tangents
            return f(x, y), jnp.cos(x) * y * dx + (0.0 if ignore_y else jnp.sin(x) * dy)

        return f

    return jax, softplus_rule, linear_tanh, sin_times


def _jax_arrays(jax, name, seed=0):
    dtype = jax.numpy.dtype(name)
    return [jax.numpy.asarray(a, dtype=dtype) for a in _data(seed)]


@pytest.mark.parametrize("name", LOW)
def test_jax_right_rules_are_never_wrong_in_low_precision(jx, name):
    jax, softplus_rule, linear_tanh, sin_times = jx
    x, w, b = _jax_arrays(jax, name)
    passed = 0
    for fn, args in [(softplus_rule(), (x,)), (linear_tanh(), (x, w, b)), (sin_times(), (x, x[::-1]))]:
        result = fastcheck.check_jax(fn, *args, workers=1)
        assert result.dtype == name and result.precision == name
        assert not result.wrong_blocks and result.verdict != "wrong", result.to_string()
        assert result.passed or result.reason, result.to_string()
        passed += result.passed
    if name == "float16":
        assert passed == 3


@pytest.mark.parametrize("name", LOW)
def test_jax_bugs_beyond_the_formats_resolution_fail_naming_the_input(jx, name):
    jax, softplus_rule, linear_tanh, sin_times = jx
    x, w, b = _jax_arrays(jax, name)
    doubled = fastcheck.check_jax(softplus_rule(factor=2.0), x, workers=1)
    missing = fastcheck.check_jax(sin_times(ignore_y=True), x, x[::-1], workers=1)  # the sin(x)·dy term left out
    ignored = fastcheck.check_jax(linear_tanh(drop_bias=True), x, w, b, workers=1)
    _caught(doubled, ["input0"], name)
    _caught(missing, ["input1"], name)
    _caught(ignored, ["input2"], name)


def _caught(result, blocks, name):
    """float16: wrong, naming exactly ``blocks``; bfloat16: never passed, and wrong only in ``blocks``."""
    if name == "float16":
        assert result.wrong_blocks == blocks, result.to_string()
    else:
        assert not result.passed and set(result.wrong_blocks) <= set(blocks), result.to_string()


def test_jax_float16_steps_adapt_where_a_fixed_step_does_not_move_the_input(jx):
    """jax #7742: check_grads' fixed step (1e-4 and the like) is below float16's resolution at |x| ≥ 1/4:
    x + h rounds back to x and the quotient reads 0.  fastcheck's steps are float16's own, so every
    perturbed point differs from x, and the step recorded is exactly how far it moved."""
    jax, softplus_rule, _, _ = jx
    x = _jax_arrays(jax, "float16")[0]
    x16 = np.asarray(x)
    big = np.abs(x16.astype(np.float64)) >= 0.25
    assert big.sum() >= 10
    assert np.all((x16 + np.float16(1e-4))[big] == x16[big])
    result = fastcheck.check_jax(softplus_rule(), x, workers=1)
    flat = x16.ravel().astype(np.float64)
    assert np.all(result.steps > 0)
    assert np.all(result.steps >= 0.05 * np.maximum(1.0, np.abs(flat)))  # ε16^(1/3) ≈ 0.099 of max(1, |x|)
    np.testing.assert_array_equal((flat + result.steps).astype(np.float16).astype(np.float64) - flat,
                                  result.steps)
    assert result.passed, result.to_string()


def test_jax_mixed_formats_are_refused(jx):
    jax, _, linear_tanh, _ = jx
    x, w, b = _jax_arrays(jax, "float16")
    with pytest.raises(fastcheck.LayerError, match="its own format only"):
        fastcheck.check_jax(linear_tanh(), x, w.astype(np.float32), b, workers=1)


# -- PyTorch -------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tz():
    pytest.importorskip("torch")
    from tests.inputs import torch_zoo

    return torch_zoo


def _torch_tensors(torch, name, seed=0):
    dtype = getattr(torch, name)
    return [torch.tensor(a).to(dtype).requires_grad_() for a in _data(seed)]


@pytest.mark.parametrize("name", LOW)
def test_torch_right_ops_are_never_wrong_in_low_precision(tz, name):
    import torch

    if name == "bfloat16":
        pytest.importorskip("ml_dtypes")
    x, w, b = _torch_tensors(torch, name)
    before = [t.detach().clone() for t in (x, w, b)]
    passed = 0
    for fn, args in [(tz.Softplus.apply, (x,)), (tz.LinearTanh.apply, (x, w, b))]:
        result = fastcheck.check_torch(fn, *args, workers=1)
        assert result.dtype == name and result.precision == name
        assert not result.wrong_blocks and result.verdict != "wrong", result.to_string()
        assert result.passed or result.reason, result.to_string()
        passed += result.passed
    if name == "float16":
        assert passed == 2
    for t, t0 in zip((x, w, b), before):  # the caller's tensors: same values, dtype, no .grad
        assert t.dtype == getattr(torch, name) and torch.equal(t.detach(), t0) and t.grad is None


@pytest.mark.parametrize("name", LOW)
def test_torch_bugs_beyond_the_formats_resolution_fail_naming_the_input(tz, name):
    import torch

    if name == "bfloat16":
        pytest.importorskip("ml_dtypes")
    x, w, b = _torch_tensors(torch, name)
    ignored = fastcheck.check_torch(tz.LinearTanhNoBias.apply, x, w, b, workers=1)
    _caught(ignored, ["input2"], name)

    class Doubled(tz.Softplus):
        @staticmethod
        def backward(ctx, g):
            return 2 * tz.Softplus.backward(ctx, g)

    doubled = fastcheck.check_torch(Doubled.apply, x, workers=1)
    _caught(doubled, ["input0"], name)
