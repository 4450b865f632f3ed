"""check_torch(cross_check="float64"): the op's backward on float64 copies of the inputs, a second reference.

References: the same op run by torch in float64 (a correct float32 backward lands within a few float32
epsilons of it); planted defects are backwards that are right but pass float32 values through float16 or
bfloat16 (as TF32 matmuls and autocast do to float32 only), which float32's difference quotients cannot
always resolve.  (A backward that casts to a fixed lower precision whatever its input loses the same digits in
float64 too: a float64 check, with its sharp bars, is what sees that.)
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fastcheck
from fastcheck.inputs.cross_check import CROSS_EPS, relative_difference, tolerance
from tests.inputs import torch_zoo as zoo


def _tensor(shape, seed, dtype=torch.float32, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(*shape, generator=gen, dtype=torch.float64)).to(dtype).requires_grad_()


def _inputs(dtype=torch.float32):
    return _tensor((6, 8), 1, dtype), _tensor((8, 8), 2, dtype, 0.5), _tensor((8,), 3, dtype)


def _lowered(t, low):
    """``t`` through ``low`` when it is float32, as a TF32 matmul or an autocast region lowers float32 only
    (float64 passes untouched)."""
    return t.to(low).to(t.dtype) if t.dtype == torch.float32 else t


class CastsToHalf(zoo.LinearTanh):
    """Right formulas, but a float32 dW is computed from float16 values (a silent cast of float32 only)."""

    @staticmethod
    def backward(ctx, g):
        x, w, y = ctx.saved_tensors
        dz = g * (1 - y * y)
        return dz @ w, _lowered(dz, torch.float16).T @ _lowered(x, torch.float16), dz.sum(0)


class CastsToBfloat16(zoo.LinearTanh):
    """Right formulas, a float32 dx rounded through bfloat16."""

    @staticmethod
    def backward(ctx, g):
        x, w, y = ctx.saved_tensors
        dz = g * (1 - y * y)
        return _lowered(dz @ w, torch.bfloat16), dz.T @ x, dz.sum(0)


def test_a_right_float32_backward_agrees_with_its_float64_backward():
    x, w, b = _inputs()
    kept = [t.detach().clone() for t in (x, w, b)]
    result = fastcheck.check_torch(zoo.LinearTanh.apply, x, w, b, cross_check="float64", workers=1)
    assert result.passed, result.to_string()
    table = result.cross_check
    assert list(table["block"]) == ["input0", "input1", "input2"] and table["agrees"].all(), table
    assert np.all(table["tolerance"] == CROSS_EPS * 2.0**-23)
    assert np.all(table["difference"] < table["tolerance"])
    assert "agrees with its float64 backward in every block" in result.cross_check_note
    assert result.cross_check_note in result.to_string()
    for t, t0 in zip((x, w, b), kept):  # never modified, never widened, no .grad
        assert t.dtype == torch.float32 and torch.equal(t.detach(), t0) and t.grad is None
    assert result.to_dict()["cross_check"][0]["block"] == "input0"


def test_the_difference_is_the_float64_backwards_own():
    """An independent reference: the float64 backward computed here by torch, compared by hand."""
    x, w, b = _inputs()
    dout = np.random.default_rng(5).standard_normal((6, 8)).astype(np.float32)
    result = fastcheck.check_torch(CastsToHalf.apply, x, w, b, dout=dout, cross_check="float64", workers=1)
    x64, w64, b64 = (t.detach().double().requires_grad_() for t in (x, w, b))
    y = CastsToHalf.apply(x64, w64, b64)
    g64 = torch.autograd.grad(y, (x64, w64, b64), torch.tensor(dout, dtype=torch.float64))
    xs = [t.detach().clone().requires_grad_() for t in (x, w, b)]
    g32 = torch.autograd.grad(CastsToHalf.apply(*xs), xs, torch.tensor(dout))
    want = [relative_difference(a.numpy(), c.numpy()) for a, c in zip(g32, g64)]
    np.testing.assert_allclose(result.cross_check["difference"], want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("op, block", [(CastsToHalf, "input1"), (CastsToBfloat16, "input0")],
                         ids=["float16-dW", "bfloat16-dx"])
def test_a_backward_that_casts_to_a_lower_precision_is_reported(op, block):
    x, w, b = _inputs()
    result = fastcheck.check_torch(op.apply, x, w, b, cross_check="float64", workers=1)
    table = result.cross_check.set_index("block")
    assert not table.loc[block, "agrees"], table
    assert table.drop(index=block)["agrees"].all(), table
    # float16 rounding (ε = 2^-10) leaves about 2^-13 in norm, bfloat16's more: beyond 4 times 128 float32 eps
    assert table.loc[block, "difference"] > 4 * tolerance(np.float32)
    assert "DIFFERS" in result.cross_check_note and block in result.cross_check_note


def test_an_op_that_refuses_float64_gets_a_note_not_a_crash():
    class Float32Only(zoo.Softplus):
        @staticmethod
        def forward(ctx, x):
            if x.dtype != torch.float32:
                raise TypeError(f"this kernel takes float32, got {x.dtype}")
            return zoo.Softplus.forward(ctx, x)

    x = _tensor((5,), 4)
    result = fastcheck.check_torch(Float32Only.apply, x, cross_check="float64", workers=1)
    assert result.passed and result.cross_check.empty
    assert "does not run on float64 inputs (TypeError: this kernel takes float32" in result.cross_check_note


def test_an_op_that_computes_in_float32_anyway_is_not_taken_for_a_float64_reference():
    x = _tensor((5,), 4)
    result = fastcheck.check_torch(lambda t: torch.sin(t.float()), x, cross_check="float64", workers=1)
    assert result.passed and result.cross_check.empty
    assert "returns float32" in result.cross_check_note


def test_modules_random_ops_and_float64_inputs():
    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 3)
    kept = {k: v.detach().clone() for k, v in lin.state_dict().items()}
    result = fastcheck.check_torch(lin, _tensor((2, 4), 6), cross_check="float64", workers=1)
    assert list(result.cross_check["block"]) == ["input0", "weight", "bias"] and result.cross_check["agrees"].all()
    assert all(p.dtype == torch.float32 and torch.equal(p.detach(), kept[k]) and p.grad is None
               for k, p in lin.named_parameters())

    drop = torch.nn.Dropout(0.3)
    noted = fastcheck.check_torch(drop, _tensor((10,), 7), cross_check="float64", workers=1)
    assert noted.cross_check.empty and "draws random numbers" in noted.cross_check_note

    wide = fastcheck.check_torch(zoo.Softplus.apply, _tensor((4,), 8, torch.float64), cross_check="float64",
                                 workers=1)
    assert wide.cross_check.empty and "float64 already" in wide.cross_check_note
    plain = fastcheck.check_torch(zoo.Softplus.apply, _tensor((4,), 8), workers=1)
    assert plain.cross_check.empty and plain.cross_check_note == ""
    with pytest.raises(ValueError, match="cross_check must be None or 'float64'"):
        fastcheck.check_torch(zoo.Softplus.apply, _tensor((4,), 8), cross_check="float32")
