"""fastcheck check --reseed: a target whose cost and gradient draw random masks."""
import json

from fastcheck.cli import main

TARGET = '''
import numpy as np
def cost(t):
    m = np.random.rand(t.size) < 0.5
    return float(np.sum((t * m) ** 2))
def grad(t):
    m = np.random.rand(t.size) < 0.5
    return 2 * t * m
def make():
    return cost, np.linspace(-1, 1, 6), grad
'''


def test_reseed_flag(tmp_path, capsys):
    path = tmp_path / "randcost.py"
    path.write_text(TARGET)
    code = main(["check", f"{path}:make", "--reseed", "3", "--workers", "1", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["verdict"] == "great"
