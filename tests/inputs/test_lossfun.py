"""lossFun-style checks: parameters as module globals, attributes or a dict; (loss, *grads) or (loss, dict)."""
import importlib
import sys
import warnings

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.evaluators import pool
from tests.inputs import charrnn_script as rnn

INPUTS, TARGETS = [0, 3, 1, 4, 2], [3, 1, 4, 2, 0]


def _hprev():
    return np.zeros((rnn.hidden_size, 1)) + 0.05


def test_module_globals_pass_and_restored():
    before = {k: getattr(rnn, k).copy() for k in ("Wxh", "Whh", "Why", "bh", "by")}
    ids = {k: id(getattr(rnn, k)) for k in before}
    res = fc.check_module(rnn, "lossFun", args=(INPUTS, TARGETS, _hprev()), workers=1)
    assert res.passed, res.blocks
    assert list(res.layout.names) == ["Wxh", "Whh", "Why", "bh", "by"]  # hprev (returned last) is not a gradient
    for k, v in before.items():
        np.testing.assert_array_equal(getattr(rnn, k), v)
        assert id(getattr(rnn, k)) == ids[k]


def test_module_planted_bug_named_by_block(monkeypatch):
    monkeypatch.setattr(rnn, "BUG", "Whh")
    res = fc.check_module(rnn, "lossFun", args=(INPUTS, TARGETS, _hprev()), workers=1)
    verdicts = res.blocks.set_index("block")["verdict"]
    assert verdicts["Whh"] == "wrong"
    assert all(verdicts[b] in ("great", "ok") for b in ("Wxh", "Why", "bh", "by"))


def test_attributes_of_an_object():
    net = rnn.CharRNN()
    assert fc.check_loss(net.lossFun, net, INPUTS, TARGETS, _hprev(), workers=1).passed
    bad = rnn.CharRNN(bug="by")
    res = fc.check_loss(bad.lossFun, bad, INPUTS, TARGETS, _hprev(), workers=1)
    verdicts = res.blocks.set_index("block")["verdict"]
    assert verdicts["by"] == "wrong" and verdicts["Whh"] in ("great", "ok")


def _dict_net(bug=False):
    rng = np.random.default_rng(0)
    params = {"W": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}
    X, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))

    def loss_and_grads(p, X, y):
        r = X @ p["W"] + p["b"] - y
        return 0.5 * float(np.sum(r**2)), {"dW": X.T @ r, "db": r.sum(0) * (1.5 if bug else 1.0)}

    return params, X, y, loss_and_grads


def test_dict_params_taken_first_and_restored_on_error():
    params, X, y, f = _dict_net()
    saved = {k: v.copy() for k, v in params.items()}
    assert fc.check_loss(f, params, X, y, workers=1).passed
    params, X, y, f = _dict_net(bug=True)
    res = fc.check_loss(f, params, X, y, workers=1)
    assert res.blocks.set_index("block")["verdict"]["b"] == "wrong"

    calls = []

    def explodes(p, X, y):
        calls.append(1)
        if len(calls) > 3:
            raise RuntimeError("boom")
        return f(p, X, y)

    params, X, y, f = _dict_net()
    with pytest.raises(RuntimeError, match="boom"):
        fc.check_loss(explodes, params, X, y, workers=1)
    for k in saved:
        np.testing.assert_array_equal(params[k], saved[k])


def test_params_as_positional_arrays_and_closure_over_dict():
    params, X, y, f = _dict_net()

    def positional(W, b, X, y):
        r = X @ W + b - y
        return 0.5 * float(np.sum(r**2)), X.T @ r, r.sum(0)

    assert fc.check_loss(positional, params, X, y, workers=1).passed

    def closure(X, y):
        return f(params, X, y)

    assert fc.check_loss(closure, params, X, y, workers=1).passed


def test_misfits_are_clear():
    params, X, y, f = _dict_net()
    with pytest.raises(TypeError, match="must take"):
        fc.check_loss(lambda a: 0.0, params, X, y)
    with pytest.raises(fc.GradientMismatchError, match=r"must return \(loss"):
        fc.check_loss(lambda p, X, y: 1.0, params, X, y)


def test_globals_dict_of_a_script_or_notebook():
    g = {"np": np}
    exec(
        "rng = np.random.default_rng(0)\n"
        "X = rng.normal(size=(5, 3)); y = rng.normal(size=5)\n"
        "w = rng.normal(size=3); c = np.array([0.3])\n"
        "def lossFun(X, y):\n"
        "    r = X @ w + c[0] - y\n"
        "    return 0.5 * float(r @ r), X.T @ r, np.array([r.sum()])\n",
        g,
    )
    res = fc.check_loss(g["lossFun"], g, g["X"], g["y"], workers=1)
    assert res.passed and list(res.layout.names) == ["w", "c"]


def test_complex_step_reads_the_loss_only():
    res = fc.check_module(rnn, "lossFun", args=(INPUTS, TARGETS, _hprev()), scheme="complex", workers=1)
    assert res.verdict == "great"


class _CellParams:
    """Parameters with *_diff accumulators beside them, filled by a separate network object."""

    def __init__(self, seed=0):
        r = np.random.default_rng(seed)
        self.wg, self.bg = r.normal(size=(3, 5)), r.normal(size=3)
        self.wg_diff, self.bg_diff = np.zeros_like(self.wg), np.zeros_like(self.bg)
        self.lr = 0.1


class _Net:
    def __init__(self, p, bug=False):
        self.p, self.bug = p, bug

    def step(self, xs, ys):
        """Loss of a tanh cell over a sequence; gradients accumulate (+=) into the parameter object."""
        loss = 0.0
        for x, y in zip(xs, ys):
            h = np.tanh(self.p.wg @ x + self.p.bg)
            loss += 0.5 * float(np.sum((h - y) ** 2))
            dz = (h - y) * (1 - h**2)
            self.p.wg_diff += np.outer(dz, x)
            self.p.bg_diff += dz * (1.01 if self.bug else 1.0)
        return loss


def test_loss_alone_with_gradients_left_in_the_parameter_object():
    r = np.random.default_rng(5)
    xs, ys = list(r.normal(size=(4, 5))), list(r.normal(size=(4, 3)) * 0.5)
    p = _CellParams()
    p.wg_diff += 7.0                          # left over from an earlier step: zeroed for each checked call
    before = {k: np.array(v, copy=True) for k, v in vars(p).items() if isinstance(v, np.ndarray)}
    net = _Net(p)
    result = fc.check_loss(lambda: net.step(xs, ys), p, workers=1)
    assert result.passed and list(result.layout.names) == ["wg", "bg"], result.summary()
    for k, v in before.items():
        np.testing.assert_array_equal(getattr(p, k), v)
    bad = fc.check_loss(lambda: _Net(p, bug=True).step(xs, ys), p, workers=1)
    assert bad.failing_blocks == ["bg"]
    only = fc.check_loss(lambda: net.step(xs, ys), p, names=["wg"], workers=1)
    assert list(only.layout.names) == ["wg"] and only.passed


def test_loss_alone_and_no_gradient_anywhere_is_a_clear_error():
    class Bare:
        def __init__(self):
            self.w = np.ones(3)

    b = Bare()
    with pytest.raises(fc.GradientMismatchError, match="returned the loss alone"):
        fc.check_loss(lambda: float(np.sum(b.w**2)), b, workers=1)


# A script in the style of the minimal char-RNN copies that keep training out of the import: the
# parameters are module globals set to None, made by main() (written afresh for this test).
MAIN_SCRIPT = '''
import sys
import numpy as np

vocab_size, Wxh, Whh, Why, bh, by = None, None, None, None, None, None
BUG = None


def lossFun(inputs, targets, hprev):
    hs, ps, xs = {-1: np.copy(hprev)}, {}, {}
    loss = 0.0
    for t, i in enumerate(inputs):
        xs[t] = np.zeros((vocab_size, 1))
        xs[t][i] = 1
        hs[t] = np.tanh(Wxh @ xs[t] + Whh @ hs[t - 1] + bh)
        z = Why @ hs[t] + by
        ps[t] = np.exp(z - z.max()) / np.sum(np.exp(z - z.max()))
        loss -= np.log(ps[t][targets[t], 0])
    dWxh, dWhh, dWhy, dbh, dby = (np.zeros_like(a) for a in (Wxh, Whh, Why, bh, by))
    dnext = np.zeros_like(hprev)
    for t in reversed(range(len(inputs))):
        dz = ps[t].copy()
        dz[targets[t]] -= 1
        dWhy += dz @ hs[t].T
        dby += dz
        draw = (1 - hs[t] ** 2) * (Why.T @ dz + dnext)
        dbh += draw
        dWxh += draw @ xs[t].T
        dWhh += draw @ (hs[t] if BUG == "Whh" else hs[t - 1]).T
        dnext = Whh.T @ draw
    return loss, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]


def main():
    global vocab_size, Wxh, Whh, Why, bh, by
    text = open(sys.argv[1]).read()
    vocab_size, hidden = len(set(text)), 100
    Wxh = np.random.randn(hidden, vocab_size) * 0.01
    Whh, Why = np.random.randn(hidden, hidden) * 0.01, np.random.randn(vocab_size, hidden) * 0.01
    bh, by = np.zeros((hidden, 1)), np.zeros((vocab_size, 1))


if __name__ == "__main__":
    main()
'''


@pytest.mark.skipif(pool.available_cores() < 2, reason="a pool needs two cores")
def test_module_globals_made_at_run_time_give_the_serial_verdict_on_the_pool(tmp_path, monkeypatch):
    """Globals a script's main() would make (here: set by the user) reach the pool's workers, which
    import the module afresh (None there): the pool runs, and its numbers are the serial loop's."""
    (tmp_path / "scn_globals_rnn.py").write_text(MAIN_SCRIPT)
    monkeypatch.syspath_prepend(str(tmp_path))
    m = importlib.import_module("scn_globals_rnn")
    try:
        r = np.random.RandomState(3)
        m.vocab_size, H = 5, 4
        m.Wxh, m.Whh, m.Why = r.randn(H, 5) * 0.5, r.randn(H, H) * 0.5, r.randn(5, H) * 0.5
        m.bh, m.by = np.full((H, 1), 0.1), np.zeros((5, 1))
        ids = {k: id(getattr(m, k)) for k in ("Wxh", "Whh", "Why", "bh", "by")}
        args = (INPUTS, TARGETS, np.full((H, 1), 0.05))
        for bug, failing in ((None, []), ("Whh", ["Whh"])):
            m.BUG = bug                              # set at run time: a worker must see it too
            serial = fc.check_module(m, "lossFun", args=args, workers=1)
            with warnings.catch_warnings():
                warnings.simplefilter("error", fc.PoolFallbackWarning)  # the workers' copies prove themselves
                pooled = fc.check_module(m, "lossFun", args=args, workers=2)
            assert "pool of 2 processes" in pooled.path, pooled.note
            assert serial.failing_blocks == pooled.failing_blocks == failing
            assert list(serial.blocks["verdict"]) == list(pooled.blocks["verdict"])
            np.testing.assert_array_equal(pooled.numerical, serial.numerical)
            np.testing.assert_array_equal(pooled.status, serial.status)
        assert {k: id(getattr(m, k)) for k in ids} == ids  # the user's arrays are back in place
    finally:
        sys.modules.pop("scn_globals_rnn", None)


# -- gradients paired with parameters by name, whatever order the parameters were defined in -------------------
# A script whose globals are defined interleaved (bh before Whh) and whose lossFun returns them grouped; run from a
# file so that its source (and so the returned names) can be read, as for a script or a notebook cell.
ORDER_SCRIPT = '''
import numpy as np
rng = np.random.default_rng(3)
Wxh = rng.normal(size=(4, 3)) * 0.5
bh = np.zeros((4, 1)) + 0.1
Whh = rng.normal(size=(4, 4)) * 0.5
BUG = 1.0

def lossFun(inputs, hprev):
    h, hs = hprev, []
    for i in inputs:
        x = np.zeros((3, 1)); x[i] = 1
        h = np.tanh(Wxh @ x + Whh @ h + bh)
        hs.append((x, h))
    loss = 0.5 * float(np.sum(h**2))
    dWxh, dWhh, dbh, dh = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(bh), h
    for t in reversed(range(len(hs))):
        x, h = hs[t]
        h_prev = hs[t - 1][1] if t else hprev
        draw = (1 - h**2) * dh
        dWxh += draw @ x.T; dWhh += draw @ h_prev.T; dbh += draw
        dh = Whh.T @ draw
    return loss, dWxh, dWhh * BUG, dbh, h
'''


def _script_globals(tmp_path, source, name="order_script.py"):
    path = tmp_path / name
    path.write_text(source)
    g = {"__name__": "order_script"}
    exec(compile(source, str(path), "exec"), g)
    return g


def test_gradients_are_paired_by_name_not_by_definition_order(tmp_path):
    g = _script_globals(tmp_path, ORDER_SCRIPT)
    keep = {k: g[k].copy() for k in ("Wxh", "bh", "Whh")}
    res = fc.check_loss(g["lossFun"], g, [0, 2, 1], np.full((4, 1), 0.1), workers=1)
    assert res.passed and list(res.layout.names) == ["Wxh", "Whh", "bh"], res.summary()
    for k, v in keep.items():
        np.testing.assert_array_equal(g[k], v)
    g["BUG"] = 1.003
    bad = fc.check_loss(g["lossFun"], g, [0, 2, 1], np.full((4, 1), 0.1), workers=1)
    assert bad.failing_blocks == ["Whh"] and list(bad.layout.names) == ["Wxh", "Whh", "bh"]


class _Interleaved:
    """Attributes defined W1, b1, W2, b2; lossFun returns dW1, dW2, db1, db2 (and a trailing activation)."""

    def __init__(self, bug=None):
        r = np.random.default_rng(8)
        self.W1, self.b1 = r.normal(size=(3, 4)), r.normal(size=4) * 0.1
        self.W2, self.b2 = r.normal(size=(4, 2)), r.normal(size=2) * 0.1
        self.bug = bug

    def lossFun(self, X, y):
        a = np.tanh(X @ self.W1 + self.b1)
        r = a @ self.W2 + self.b2 - y
        loss = 0.5 * float(np.sum(r**2))
        dW2, db2 = a.T @ r, r.sum(0)
        dz = (r @ self.W2.T) * (1 - a**2)
        dW1, db1 = X.T @ dz, dz.sum(0) * (1.003 if self.bug == "b1" else 1.0)
        return loss, dW1, dW2, db1, db2, a


def test_interleaved_attributes_are_paired_by_name():
    r = np.random.default_rng(9)
    X, y = r.normal(size=(6, 3)), r.normal(size=(6, 2))
    net = _Interleaved()
    res = fc.check_loss(net.lossFun, net, X, y, workers=1)
    assert res.passed and list(res.layout.names) == ["W1", "W2", "b1", "b2"], res.summary()
    bad = _Interleaved(bug="b1")
    assert fc.check_loss(bad.lossFun, bad, X, y, workers=1).failing_blocks == ["b1"]


def test_a_gradient_shaped_array_left_unpaired_is_refused_not_dropped():
    g = {"np": np}
    exec(  # no source file: the returned names cannot be read, so order and shape pair them
        "rng = np.random.default_rng(0)\n"
        "X = rng.normal(size=(5, 3)); y = rng.normal(size=5)\n"
        "c = np.array([0.3]); w = rng.normal(size=3); v = rng.normal(size=3)\n"
        "BUG = 1.0\n"
        "def lossFun(X, y):\n"
        "    r = X @ (w + 2 * v) + c[0] - y\n"
        "    return 0.5 * float(r @ r), X.T @ r, 2 * X.T @ r, np.array([r.sum()]) * BUG\n",
        g,
    )
    keep = {k: g[k].copy() for k in ("c", "w", "v")}
    with pytest.raises(fc.GradientMismatchError, match=r"value 3 after the loss \(1,\) has the shape of c.*names="):
        fc.check_loss(g["lossFun"], g, g["X"], g["y"], workers=1)
    for k, v in keep.items():
        np.testing.assert_array_equal(g[k], v)
    assert fc.check_loss(g["lossFun"], g, g["X"], g["y"], names=["w", "v", "c"], workers=1).passed
    g["BUG"] = 1.003
    bad = fc.check_loss(g["lossFun"], g, g["X"], g["y"], names=["w", "v", "c"], workers=1)
    assert bad.failing_blocks == ["c"]


def test_a_gradient_named_after_a_parameter_with_another_shape_is_a_clear_error():
    class Net:
        def __init__(self):
            self.W = np.ones((3, 2))

        def lossFun(self, X):
            dW = X.T @ X
            return float(np.sum((X @ self.W) ** 2)), dW

    with pytest.raises(fc.GradientMismatchError, match=r"returns dW .* shape \(3, 3\), but W has shape \(3, 2\)"):
        fc.check_loss(Net().lossFun, Net(), np.ones((4, 3)), workers=1)
