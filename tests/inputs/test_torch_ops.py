"""check_torch: custom autograd Functions and modules, right ones pass in float64 and float32, bugs are named."""
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fastcheck
from fastcheck.errors import LayerError
from tests.inputs import torch_zoo as zoo

DTYPES = [torch.float64, torch.float32]


def _tensor(shape, dtype, seed, scale=1.0, requires_grad=True):
    gen = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(*shape, generator=gen, dtype=torch.float64)).to(dtype).requires_grad_(requires_grad)


def _linear_inputs(dtype, n=5):
    return _tensor((4, n), dtype, 1), _tensor((n, n), dtype, 2, scale=0.5), _tensor((n,), dtype, 3)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_correct_ops_pass_in_their_own_dtype(dtype):
    x, w, b = _linear_inputs(dtype)
    for fn, inputs in [(zoo.Softplus.apply, (x,)), (zoo.LinearTanh.apply, (x, w, b)),
                       (zoo.LayerNorm.apply, (_tensor((6, 8), dtype, 4), _tensor((8,), dtype, 5),
                                              _tensor((8,), dtype, 6)))]:
        result = fastcheck.check_torch(fn, *inputs, workers=1)
        assert result.passed, result.to_string()
        assert result.dtype == str(dtype).split(".")[1]  # evaluated in the op's dtype
        assert list(result.blocks["block"]) == [f"input{i}" for i in range(len(inputs))]
        assert result.verdict == ("great" if dtype == torch.float64 else result.verdict)


def test_float32_check_uses_float32_error_bars_and_still_catches_a_small_bug():
    x, w, b = _linear_inputs(torch.float32)
    ok = fastcheck.check_torch(zoo.LinearTanh.apply, x, w, b, workers=1)
    assert ok.passed and ok.precision == "float32"

    class Scaled(zoo.LinearTanh):  # dW off by 1 %: far beyond float32's round-off, within what "ok" looks at
        @staticmethod
        def backward(ctx, g):
            dx, dw, db = zoo.LinearTanh.backward(ctx, g)
            return dx, 1.01 * dw, db

    bad = fastcheck.check_torch(Scaled.apply, x, w, b, workers=1)
    assert bad.failing_blocks == ["input1"], bad.to_string()


def test_gradcheck_false_fails_in_float32_where_check_torch_passes():
    """An independent reference: torch's own gradcheck, with its default tolerances, on the same float32 op."""
    x, gamma, beta = _tensor((6, 8), torch.float32, 4), _tensor((8,), torch.float32, 5), _tensor((8,), torch.float32, 6)
    assert not torch.autograd.gradcheck(zoo.LayerNorm.apply, (x, gamma, beta), raise_exception=False)
    assert fastcheck.check_torch(zoo.LayerNorm.apply, x, gamma, beta, workers=1).passed


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("fn, inputs, wrong", [
    (zoo.LayerNormMissingTerm.apply, "layernorm", ["input0"]),
    (zoo.LinearTanhTransposed.apply, "linear", ["input1"]),
    (zoo.LinearTanhNoBias.apply, "linear", ["input2"]),
    (zoo.SinCosFirstOnly.apply, "sincos", ["input0"]),
], ids=["missing-term", "wrong-transpose", "ignores-an-input", "forgets-an-output"])
def test_planted_bugs_fail_naming_the_input(dtype, fn, inputs, wrong):
    args = {"layernorm": (_tensor((6, 8), dtype, 4), _tensor((8,), dtype, 5), _tensor((8,), dtype, 6)),
            "linear": _linear_inputs(dtype),
            "sincos": (_tensor((3, 4), dtype, 7), _tensor((3, 4), dtype, 8))}[inputs]
    result = fastcheck.check_torch(fn, *args, workers=1)
    assert not result.passed and result.verdict == "wrong"
    assert result.wrong_blocks == wrong, result.to_string()


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_relu_ties_are_kinks_not_failures(dtype):
    x = torch.tensor([[0.0, 1.5, -0.7], [0.0, -2.0, 0.3]], dtype=dtype, requires_grad=True)
    result = fastcheck.check_torch(lambda t: torch.relu(t) * 3.0, x, workers=1)
    assert result.passed, result.to_string()
    assert sorted(result.kinks["index"]) == ["[0,0]", "[1,0]"]
    assert set(result.kinks["block"]) == {"input0"}
    # and a wrong slope at a smooth point still fails next to the ties
    class Leaky(torch.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            ctx.save_for_backward(t)
            return torch.relu(t)

        @staticmethod
        def backward(ctx, g):
            (t,) = ctx.saved_tensors
            return g * ((t > 0).to(g.dtype) + 0.1 * (t < 0).to(g.dtype))  # a leak the forward does not have

    bad = fastcheck.check_torch(Leaky.apply, x, workers=1)
    assert bad.wrong_blocks == ["input0"]
    assert list(bad.status[[0, 3]]) == ["kink", "kink"] and list(bad.status[[2, 4]]) == ["wrong", "wrong"]


def test_only_inputs_that_require_grad_are_checked_and_constants_pass_through():
    x, w, b = _linear_inputs(torch.float64)
    w_const = w.detach()
    result = fastcheck.check_torch(lambda x, w, b, scale: zoo.LinearTanh.apply(x, w, b) * scale, x, w_const, b, 2.0,
                                   workers=1)
    assert list(result.blocks["block"]) == ["input0", "input2"] and result.passed


def test_keyword_arguments_are_checked_under_their_names():
    x, w, b = _linear_inputs(torch.float64)
    result = fastcheck.check_torch(lambda x, *, w, b: zoo.LinearTanhNoBias.apply(x, w, b), x, kwargs={"w": w, "b": b},
                                   workers=1)
    assert list(result.blocks["block"]) == ["input0", "w", "b"] and result.wrong_blocks == ["b"]


def test_a_module_checks_its_parameters_by_name_and_leaves_everything_as_it_was():
    module = zoo.Gated(5)
    x = _tensor((4, 5), torch.float64, 9)
    x.grad = torch.full_like(x, 7.0)
    module.weight.grad = torch.full_like(module.weight, 3.0)
    before = {k: v.detach().clone() for k, v in module.state_dict().items()}
    x_before = x.detach().clone()
    rng_before = torch.get_rng_state()
    ok = fastcheck.check_torch(module, x, workers=1)
    assert ok.passed and list(ok.blocks["block"]) == ["input0", "weight", "bias", "gate"]
    bad = fastcheck.check_torch(zoo.Gated(5, zoo.LinearTanhTransposed), x, workers=1)
    assert bad.wrong_blocks == ["weight"]
    # the caller's tensors, gradients, buffers and RNG are untouched
    assert torch.equal(x.detach(), x_before) and torch.equal(x.grad, torch.full_like(x, 7.0))
    assert torch.equal(module.weight.grad, torch.full_like(module.weight, 3.0))
    assert module.bias.grad is None and module.gate.grad is None
    for k, v in module.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert torch.equal(torch.get_rng_state(), rng_before)


def test_a_frozen_parameter_is_not_checked():
    module = zoo.Gated(4)
    module.gate.requires_grad_(False)
    result = fastcheck.check_torch(module, _tensor((3, 4), torch.float64, 10, requires_grad=False), workers=1)
    assert list(result.blocks["block"]) == ["weight", "bias"] and result.passed


def test_dropout_in_training_mode_is_checked_with_one_mask():
    module = torch.nn.Sequential(torch.nn.Linear(6, 5).double(), torch.nn.Dropout(0.5))
    module.train()
    x = _tensor((4, 6), torch.float64, 11)
    state = torch.get_rng_state()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = fastcheck.check_torch(module, x, workers=1)
    assert not [w for w in seen if issubclass(w.category, fastcheck.NondeterministicCostWarning)]
    assert result.passed, result.to_string()
    assert list(result.blocks["block"]) == ["input0", "0.weight", "0.bias"]
    assert torch.equal(torch.get_rng_state(), state)
    # half the outputs are dropped: their inputs' gradients are zero where the mask says so, not everywhere
    assert 0 < np.count_nonzero(result.analytic) < len(result.analytic)


def test_n_douts_lays_the_inputs_out_once_per_drawn_dout():
    x, w, b = _linear_inputs(torch.float64)
    result = fastcheck.check_torch(zoo.LinearTanhTransposed.apply, x, w, b, n_douts=3, workers=1)
    shapes = dict(zip(result.blocks["block"], result.blocks["size"]))
    assert shapes == {"input0": 3 * 20, "input1": 3 * 25, "input2": 3 * 5}
    assert result.wrong_blocks == ["input1"]


def test_a_given_dout_is_used_for_every_output():
    x, y = _tensor((3, 4), torch.float64, 7), _tensor((3, 4), torch.float64, 8)
    zeros, ones = np.zeros((3, 4)), np.ones((3, 4))
    # with dout = (1, 0) the forgotten second output contributes nothing: the bug is invisible, as it should be
    assert fastcheck.check_torch(zoo.SinCosFirstOnly.apply, x, y, dout=(ones, zeros), workers=1).passed
    assert not fastcheck.check_torch(zoo.SinCosFirstOnly.apply, x, y, dout=(zeros, ones), workers=1).passed


def test_threads_sets_torch_threads_for_the_check_only():
    before = torch.get_num_threads()
    seen = []

    def op(x):
        seen.append(torch.get_num_threads())
        return torch.sin(x)

    fastcheck.check_torch(op, _tensor((3,), torch.float64, 12), threads=1, workers=1)
    assert set(seen) == {1} and torch.get_num_threads() == before


def test_workers_give_the_serial_numbers():
    x, w, b = _linear_inputs(torch.float64, n=6)
    serial = fastcheck.check_torch(zoo.LinearTanhTransposed.apply, x, w, b, workers=1)
    pooled = fastcheck.check_torch(zoo.LinearTanhTransposed.apply, x, w, b, workers=2)
    assert "pool" in pooled.path
    # the same points and the same arithmetic, but torch may round a matmul differently on one thread (a worker)
    # than on several (this process): φ by an ulp or so, |φ| ~ 1, over steps ~ 6e-6 moves a quotient ~ 1e-10
    np.testing.assert_allclose(pooled.numerical, serial.numerical, rtol=0, atol=1e-8)
    assert pooled.wrong_blocks == serial.wrong_blocks == ["input1"]


def test_bad_calls_say_what_is_wrong():
    x = _tensor((3,), torch.float64, 13)
    with pytest.raises(LayerError, match="no input .* requires grad"):
        fastcheck.check_torch(torch.sin, x.detach())
    with pytest.raises(LayerError, match="float16 input is checked with inputs of its own format only"):
        fastcheck.check_torch(lambda a, b: torch.sin(a) * b, x.detach().half().requires_grad_(), x)
    with pytest.raises(LayerError, match="args= does not apply"):
        fastcheck.check_torch(torch.sin, x, args=(1,))
    with pytest.raises(LayerError, match="tensor or a tuple of tensors"):
        fastcheck.check_torch(lambda t: float(t.sum()), x)
    with pytest.raises(LayerError, match="NaN"):
        fastcheck.check_torch(torch.sin, torch.tensor([1.0, float("nan")], requires_grad=True))
    with pytest.raises(TypeError, match=r"check_torch\(\) got unexpected keyword"):
        fastcheck.check_torch(torch.sin, x, epsilon=1e-3)
