"""check_jax: custom_vjp and custom_jvp rules, right ones pass in float32 and float64, bugs are named."""
import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = jax.numpy

import fastcheck
from fastcheck.errors import LayerError


@jax.custom_vjp
def softplus(x):
    return jnp.logaddexp(x, 0.0)


softplus.defvjp(lambda x: (softplus(x), x), lambda x, g: (g * jax.nn.sigmoid(x),))


def _linear_tanh(transpose_bug=False, drop_bias=False):
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


def _sin_times(ignore_y=False):
    @jax.custom_jvp
    def f(x, y):
        return jnp.sin(x) * y

    @f.defjvp
    def f_jvp(primals, tangents):
        x, y = primals
        dx, dy = tangents
        return f(x, y), jnp.cos(x) * y * dx + (0.0 if ignore_y else jnp.sin(x) * dy)

    return f


def _arrays(dtype):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((4, 5)).astype(dtype), (0.5 * rng.standard_normal((5, 5))).astype(dtype),
            rng.standard_normal(5).astype(dtype))


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    if request.param == "float64":
        with jax.enable_x64(True):
            yield np.float64
    else:
        yield np.float32


def test_right_rules_pass_in_the_dtype_jax_computes_in(dtype):
    x, w, b = _arrays(dtype)
    for fn, args in [(softplus, (x,)), (_linear_tanh(), (x, w, b)), (_sin_times(), (x, x[::-1].copy()))]:
        result = fastcheck.check_jax(fn, *args, workers=1)
        assert result.passed, result.to_string()
        assert result.dtype == np.dtype(dtype).name


@pytest.mark.parametrize("make, wrong", [(lambda: _linear_tanh(transpose_bug=True), ["input1"]),
                                         (lambda: _linear_tanh(drop_bias=True), ["input2"])],
                         ids=["wrong-transpose", "ignores-an-input"])
def test_planted_vjp_bugs_fail_naming_the_argument(dtype, make, wrong):
    result = fastcheck.check_jax(make(), *_arrays(dtype), workers=1)
    assert result.wrong_blocks == wrong, result.to_string()


def test_a_wrong_jvp_rule_shows_through_the_vjp(dtype):
    x = _arrays(dtype)[0]
    result = fastcheck.check_jax(_sin_times(ignore_y=True), x, x[::-1].copy(), workers=1)
    assert result.wrong_blocks == ["input1"]


def test_float64_numpy_arrays_run_in_float32_without_x64():
    x = _arrays(np.float64)[0]
    with jax.enable_x64(False):
        result = fastcheck.check_jax(softplus, x, workers=1)
    assert result.dtype == "float32" and result.passed
    assert x.dtype == np.float64  # the caller's array is not converted


def test_argnums_and_constants():
    x, w, b = _arrays(np.float32)
    result = fastcheck.check_jax(_linear_tanh(drop_bias=True), x, w, b, argnums=(0, 1), workers=1)
    assert list(result.blocks["block"]) == ["input0", "input1"] and result.passed  # the bias is not checked
    scaled = fastcheck.check_jax(lambda x, s: softplus(x) * s, x, 3.0, workers=1)
    assert list(scaled.blocks["block"]) == ["input0"] and scaled.passed


def test_relu_ties_are_kinks():
    x = np.array([0.0, 1.5, -0.5, 0.0], np.float32)
    result = fastcheck.check_jax(lambda t: jax.nn.relu(t) * 2.0, x, workers=1)
    assert result.passed and sorted(result.kinks["index"]) == ["[0]", "[3]"]


def affine_tanh(x, w, b):  # a plain module-level function: it travels to worker processes
    return jnp.tanh(x @ w.T + b)


def test_workers_give_the_serial_numbers():
    x, w, b = _arrays(np.float32)
    serial = fastcheck.check_jax(affine_tanh, x, w, b, workers=1)
    pooled = fastcheck.check_jax(affine_tanh, x, w, b, workers=2)
    assert "pool" in pooled.path and pooled.passed
    np.testing.assert_array_equal(pooled.numerical, serial.numerical)


def test_a_custom_vjp_that_cannot_travel_runs_serially_with_a_warning():
    x, w, b = _arrays(np.float32)
    with pytest.warns(fastcheck.PoolFallbackWarning, match="cannot be sent to worker processes"):
        result = fastcheck.check_jax(_linear_tanh(transpose_bug=True), x, w, b, workers=2)
    assert "pool" not in result.path and result.wrong_blocks == ["input1"]


def test_bad_calls_say_what_is_wrong():
    x = _arrays(np.float32)[0]
    with pytest.raises(LayerError, match="no floating array"):
        fastcheck.check_jax(lambda s: s * 2, 3.0)
    with pytest.raises(LayerError, match="argnums"):
        fastcheck.check_jax(softplus, x, argnums=2)
    with pytest.raises(LayerError, match="float16 input is checked with inputs of its own format only"):
        fastcheck.check_jax(lambda a, b: softplus(a) * b, x.astype(np.float16), x)
    with pytest.raises(LayerError, match="args= does not apply"):
        fastcheck.check_jax(softplus, x, args=(1,))
    with pytest.raises(LayerError, match="output 0"):
        fastcheck.check_jax(lambda t: jnp.argmax(t), x)
