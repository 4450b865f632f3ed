"""The command line takes Hessian targets (fastcheck check) and runs the Taylor test (fastcheck taylor)."""
from pathlib import Path

import numpy as np

import fastcheck as fc
from fastcheck.cli import main
from fastcheck.inputs.targets import classify

from ..strictjson import loads as strict_json
from .second_order import MLP

DATA = Path(__file__).resolve().parents[1] / "data"
TARGET = DATA / "hessian_make.py"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_hessian_target_is_recognised_and_checked(capsys):
    made = (lambda t: 0.0, np.zeros(3), lambda t: t, np.eye(3))
    assert classify(made) == "hessian"
    assert classify((lambda t: 0.0, np.zeros(3), lambda t: t, (1.0,))) == "cost"  # args, not a Hessian
    code, out, _ = run(capsys, "check", f"{TARGET}:make", "--workers", "1")
    assert code == 0 and "Hessian check: PASSED" in out and "b/b" in out
    code, out, _ = run(capsys, "check", f"{TARGET}:broken", "--workers", "1", "--json")
    result = strict_json(out)
    assert code == 1 and result["kind"] == "hessian" and result["failing_blocks"] == "b/b"
    assert result["worst"][0]["index"] == "[1]/[1]"


def test_fastcheck_taylor(capsys, tmp_path):
    code, out, _ = run(capsys, "taylor", f"{TARGET}:make")
    assert code == 0 and "Taylor test: PASSED" in out
    code, out, _ = run(capsys, "taylor", f"{TARGET}:gradient_bug", "--json")
    rates = {r["block"]: r for r in strict_json(out)}
    assert code == 1 and not rates["b"]["passed"] and rates["a"]["passed"]
    assert abs(rates["b"]["rate1"] - 1) < 0.15
    png = tmp_path / "t.png"
    code, out, _ = run(capsys, "taylor", f"{TARGET}:gradient_only", "--plot", str(png))
    assert code == 0 and png.exists()


def test_a_failing_gradient_check_gets_the_taylor_rate_of_its_wrong_blocks():
    p = MLP()

    def grad(t):
        g = p.grad(t)
        g[16:] *= 1.001  # W2
        return g

    res = fc.check_gradient(p.cost, p.theta, grad, layout=p.layout, workers=1)
    assert res.wrong_blocks == ["W2"]
    note = dict(zip(res.blocks["block"], res.blocks["note"]))["W2"]
    assert "Taylor r1 rate 1.0" in note
    assert "Taylor test of the wrong blocks" in res.note
    assert fc.check_gradient(p.cost, p.theta, p.grad, layout=p.layout, workers=1).note == ""


def test_a_directional_hessian_target_is_refused(capsys):
    code, _, err = run(capsys, "check", f"{TARGET}:make", "--directional", "2")
    assert code == 2 and "does not apply" in err
