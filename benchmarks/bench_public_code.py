"""Public code as a new user meets it: fastcheck against each codebase's own checker, with no glue.

Run (each path is a checkout you cloned yourself; none of their code is in this repository):

    flock /tmp/fastcheck-bench.lock python benchmarks/bench_public_code.py \\
        --cs231n PATH/stanford_cs231n_2019            # the folder that holds cs231n/
        --char-rnn PATH/min-char-rnn/min-char-rnn.py  # a class-based char-RNN script
        --word2vec PATH/a2                            # the folder that holds word2vec.py and utils/
        --nnfs PATH/nn-from-scratch-py                # the folder that holds lib/dense_layer.py
        --lstm PATH/lstm                              # the folder that holds lstm.py (an LSTM with *_diff)
        --globals-rnn PATH/min_char_rnn_globals.py    # a char-RNN script whose globals main() makes
        [--repeat 3] [--write]

Tried on github.com/Yorko/stanford_cs231n_2019 (a solved CS231n 2019 assignment set:
function-pair layers ``forward(...) -> (out, cache)``, ``backward(dout, cache)``
and ``FullyConnectedNet.loss(X, y) -> (loss, grads)`` over ``model.params``),
github.com/asmaloney/min-char-rnn (the minimal character-level RNN rewritten as a
class: ``RNN.train(inputs, targets, vocab_size, h) -> (loss, dWxh, ..., h)`` over
attributes) and github.com/Clement25/Stanford-cs224n-2019winter-solution ``a2``
(skip-gram word2vec; the cost draws its contexts and negative samples from the
stdlib ``random``), and github.com/RB-Lab/nn-from-scratch-py (layers in the style of the book
*Neural Networks from Scratch in Python*: forward sets ``self.output``, backward ``self.d_inputs``,
``weights``/``biases`` with ``d_weights``/``d_biases``; no checker of its own), and
github.com/nicodjimenez/lstm (an LSTM whose ``LstmParam`` collects ``wi_diff`` and friends with ``+=``
while ``LstmNetwork.y_list_is`` returns the loss; the training step of its own example is the one
function handed to ``check_loss``; no checker of its own), and a copy of the minimal character-level
RNN restyled so that nothing trains at import: ``vocab_size, Wxh, Whh, Why, bh, by = None, ...`` at
module level, ``main()`` (under ``if __name__ == "__main__"``) making them from a text file, and
``loss_function(inputs, targets, prev_hidden)`` reading them through ``global`` (found in the stored
public-code index by its text, "Globals initialized in main()"; the index does not name the repository
that holds it).  A new user imports it, sets the globals main() would make (the inputs) and calls
``check_module(rnn, "loss_function", args=...)``.

Every call below is what the README tells a new user to write: one line per
case, no wrapper around the user's functions.  What each case should say is
written next to it (``expect``): the failing blocks a careful reading of the
public code finds, ``[]`` for correct code.  Planted bugs are made by scaling one
array a backward pass returns by 1.001 (the only wrapper, and it is the
experiment, not glue).

Every case runs three ways: ``workers="auto"`` (the default), ``workers=1`` (the serial loop) and
``workers=2`` (the pool, forced); the pooled results must give the serial status per block and per
entry, and their numbers must agree within the error bars (they are compared bitwise too, and a
:class:`~fastcheck.PoolFallbackWarning` is recorded: a fallback gives the serial verdict by
construction, so whether the pool really ran is a column of its own).

Timed, per case, in one process (medians of the interleaved rounds): the first call with
default settings and no pool running (pool start-up and any compilation included), the first
``workers=2`` call on a fresh pool (its start-up included), then rounds of warm calls, interleaved:
default settings, ``workers=1``, ``workers=2`` (its pool running), and the codebase's own checker
over the same inputs (the
cs231n assignments' ``eval_numerical_gradient_array`` / ``eval_numerical_gradient``
loops; the word2vec assignment's ``gradcheck_naive``, which stops at the first
wrong coordinate; the char-RNN script has none, so the classic loop over every
coordinate is written here, and for the module-globals script too).

Writes reports/user-code/public.csv and reports/user-code/public.md (only with --write).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import random
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import add_write_option, report_dir

import fastcheck as fc
from fastcheck.evaluators import pool

OUT = ROOT / "reports" / "user-code"


def planted(backward, index, factor=1.001):
    """``backward`` with the ``index``-th array it returns scaled by ``factor``."""
    def bad(*a):
        out = list(backward(*a))
        out[index] = out[index] * factor
        return tuple(out)
    return bad


def run(fn):
    """``fn()``'s result, its seconds and the PoolFallbackWarnings it raised (what it prints is swallowed)."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - t0
    return out, seconds, [str(w.message) for w in caught if issubclass(w.category, fc.PoolFallbackWarning)]


def fresh_pool():
    """Stop the worker processes if a pool runs: the next pooled call starts them, as in a new session."""
    pool.LocalRunner(2).stop()


def agreement(pooled, serial):
    """``(same status, within the bars, bitwise)`` of a pooled result against the serial one: the same
    verdict, block verdicts and per-entry status; every estimate within the larger of the two error bars
    of the other; the numerical and analytic values bit for bit."""
    same_coords = np.array_equal(pooled.coords, serial.coords)
    same = (same_coords and pooled.verdict == serial.verdict
            and list(pooled.blocks["block"]) == list(serial.blocks["block"])
            and list(pooled.blocks["verdict"]) == list(serial.blocks["verdict"])
            and np.array_equal(pooled.status, serial.status))
    if not same_coords:
        return same, False, False
    bitwise = (np.array_equal(pooled.numerical, serial.numerical, equal_nan=True)
               and np.array_equal(pooled.analytic, serial.analytic, equal_nan=True))
    n = len(serial.coords)
    if len(pooled.error) == len(serial.error) == len(pooled.estimate) == len(serial.estimate) == n:
        gap = np.abs(pooled.estimate - serial.estimate)
        bars = np.maximum(np.abs(pooled.error), np.abs(serial.error))
        ok = np.isfinite(gap)
        within = bool(np.all(gap[ok] <= bars[ok])
                      and np.array_equal(np.isfinite(pooled.estimate), np.isfinite(serial.estimate)))
    else:  # no error bars for these entries: only equal numbers agree
        within = bitwise
    return same, within, bitwise


def classic_loop(holder, names, loss):
    """The classic check over every coordinate of every parameter, h = 1e-5 (``holder``'s attributes)."""
    def run_loop():
        for k in names:
            p = getattr(holder, k)
            for i in range(p.size):
                old = p.flat[i]
                p.flat[i] = old + 1e-5
                up = loss()
                p.flat[i] = old - 1e-5
                down = loss()
                p.flat[i] = old
                _ = (up - down) / 2e-5
    return run_loop


def cs231n_cases(path: Path):
    sys.path.insert(0, str(path))
    with contextlib.redirect_stdout(io.StringIO()):       # fast_layers prints a hint when Cython is absent
        from cs231n import layers as L
        from cs231n import rnn_layers as R
        from cs231n.classifiers.fc_net import FullyConnectedNet
        from cs231n.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array
    rng = np.random.default_rng(0)

    def own_layer(forward, inputs, args=()):
        """The assignments' recipe: one eval_numerical_gradient_array per input, against a drawn dout."""
        names = list(inputs)
        out = forward(*inputs.values(), *args)[0]
        dout = rng.standard_normal(np.shape(out))

        def run():
            for name in names:
                def f(v, name=name):
                    vals = dict(inputs, **{name: v})
                    return forward(*vals.values(), *args)[0]
                eval_numerical_gradient_array(f, inputs[name].copy(), dout)
        return run

    cases = []

    def layer(name, fwd, bwd, inputs, args=(), expect=(), plant=None):
        cases.append({"codebase": "cs231n 2019", "style": "forward/backward function pair", "name": name,
                          "call": lambda **kw: fc.check_layer(fwd, bwd, inputs, args=args, **kw),
                          "own": own_layer(fwd, inputs, args), "expect": list(expect)})
        if plant is not None:
            k = plant
            cases.append({"codebase": "cs231n 2019", "style": "forward/backward function pair",
                              "name": f"{name}, d{list(inputs)[k]} x1.001 (planted)",
                              "call": lambda **kw: fc.check_layer(fwd, planted(bwd, k), inputs, args=args, **kw),
                              "own": None, "expect": [list(inputs)[k]]})

    x, w, b = rng.standard_normal((10, 6)), rng.standard_normal((6, 5)), rng.standard_normal(5)
    g6, b6 = rng.standard_normal(6), rng.standard_normal(6)
    layer("affine", L.affine_forward, L.affine_backward, {"x": x, "w": w, "b": b}, plant=1)
    layer("relu", L.relu_forward, L.relu_backward, {"x": x})
    layer("batchnorm (train)", L.batchnorm_forward, L.batchnorm_backward, {"x": x, "gamma": g6, "beta": b6},
          args=({"mode": "train"},), plant=0)
    layer("layernorm", L.layernorm_forward, L.layernorm_backward, {"x": x, "gamma": g6, "beta": b6}, args=({},))
    layer("dropout (seeded)", L.dropout_forward, L.dropout_backward, {"x": x},
          args=({"mode": "train", "p": 0.7, "seed": 1},))
    xc, wc, bc = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    layer("conv (naive loops)", L.conv_forward_naive, L.conv_backward_naive, {"x": xc, "w": wc, "b": bc},
          args=({"stride": 2, "pad": 1},), plant=1)
    layer("max pool (naive loops)", L.max_pool_forward_naive, L.max_pool_backward_naive, {"x": xc},
          args=({"pool_height": 2, "pool_width": 2, "stride": 2},))
    layer("spatial batchnorm", L.spatial_batchnorm_forward, L.spatial_batchnorm_backward,
          {"x": xc, "gamma": rng.standard_normal(3), "beta": rng.standard_normal(3)}, args=({"mode": "train"},))
    N, D, H = 3, 4, 5
    xr, h0 = rng.standard_normal((N, D)), rng.standard_normal((N, H))
    Wx, Wh, br = rng.standard_normal((D, H)), rng.standard_normal((H, H)), rng.standard_normal(H)
    layer("rnn step", R.rnn_step_forward, R.rnn_step_backward,
          {"x": xr, "prev_h": h0, "Wx": Wx, "Wh": Wh, "b": br}, plant=3)
    xs = rng.standard_normal((N, 6, D))
    layer("rnn over a sequence", R.rnn_forward, R.rnn_backward, {"x": xs, "h0": h0, "Wx": Wx, "Wh": Wh, "b": br})
    c0 = rng.standard_normal((N, H))
    Wx4, Wh4, b4 = rng.standard_normal((D, 4 * H)), rng.standard_normal((H, 4 * H)), rng.standard_normal(4 * H)
    layer("lstm step (two outputs)", R.lstm_step_forward, R.lstm_step_backward,
          {"x": xr, "prev_h": h0, "prev_c": c0, "Wx": Wx4, "Wh": Wh4, "b": b4}, plant=2)
    layer("lstm over a sequence", R.lstm_forward, R.lstm_backward,
          {"x": xs, "h0": h0, "Wx": Wx4, "Wh": Wh4, "b": b4})
    layer("temporal affine", R.temporal_affine_forward, R.temporal_affine_backward,
          {"x": xs, "w": rng.standard_normal((D, 3)), "b": rng.standard_normal(3)})

    y = rng.integers(0, 5, size=10)
    scores = rng.standard_normal((10, 5))
    for name, loss in (("softmax loss", L.softmax_loss), ("svm loss", L.svm_loss)):
        cases.append({"codebase": "cs231n 2019", "style": "f(x) -> (loss, grad)", "name": name,
                          "call": lambda loss=loss, **kw: fc.check_gradient(lambda s: loss(s, y), scores, **kw),
                          "own": lambda loss=loss: eval_numerical_gradient(lambda s: loss(s, y)[0], scores.copy(),
                                                                        verbose=False),
                          "expect": []})

    Xf, yf = rng.standard_normal((4, 8)), rng.integers(0, 3, size=4)
    for norm in (None, "batchnorm", "layernorm"):
        np.random.seed(0)
        m = FullyConnectedNet([6, 5], input_dim=8, num_classes=3, reg=0.1, weight_scale=0.5,
                              dtype=np.float64, normalization=norm)

        def own(m=m):
            for k in m.params:
                eval_numerical_gradient(lambda _: m.loss(Xf, yf)[0], m.params[k], verbose=False)
        cases.append({"codebase": "cs231n 2019", "style": "model.loss(X, y) -> (loss, grads) over model.params",
                          "name": f"FullyConnectedNet 8-6-5-3, {norm or 'no'} normalization",
                          "call": lambda m=m, **kw: fc.check_loss(m.loss, m.params, Xf, yf, **kw),
                          "own": own, "expect": []})
    return cases


def char_rnn_cases(path: Path):
    spec = importlib.util.spec_from_file_location("public_char_rnn", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["public_char_rnn"] = mod
    spec.loader.exec_module(mod)
    np.random.seed(1)
    V, H = 12, 8
    rnn = mod.RNN(V, H, 0.1)
    inputs = [int(i) for i in np.random.randint(0, V, size=10)]
    targets = inputs[1:] + [3]
    hprev = np.random.randn(H, 1) * 0.5
    own = classic_loop(rnn, ["Wxh", "Whh", "Why", "bh", "by"], lambda: rnn.train(inputs, targets, V, hprev)[0])
    # At t = 0 the backward pass reads hs[t - 1] = hs[-1]: Python's last element, by then the
    # final hidden state, not the initial one (the forward pass read it before it was overwritten):
    # dWhh is wrong.  The weights at the script's 0.01 scale keep every gradient inside its ±5 clip.
    return [{"codebase": "min-char-rnn (class)", "style": "lossFun over attributes -> (loss, *grads, h)",
                 "name": "RNN.train, V=12, H=8, 10 steps", "call": lambda **kw: fc.check_loss(
                     rnn.train, rnn, inputs, targets, V, hprev, **kw), "own": own, "expect": ["Whh"]}]


def word2vec_cases(path: Path):
    sys.path.insert(0, str(path))
    import word2vec as w2v
    from utils.gradcheck import gradcheck_naive

    dataset = type("dummy", (), {})()
    dataset.sampleTokenIdx = lambda: random.randint(0, 4)

    def context(C):
        tokens = ["a", "b", "c", "d", "e"]
        return tokens[random.randint(0, 4)], [tokens[random.randint(0, 4)] for _ in range(2 * C)]
    dataset.getRandomContext = context
    random.seed(31415)
    np.random.seed(9265)
    vecs = w2v.normalizeRows(np.random.randn(10, 3))
    toks = {"a": 0, "b": 1, "c": 2, "d": 3, "e": 4}
    cases = []
    for name, lg in (("naive softmax", w2v.naiveSoftmaxLossAndGradient),
                     ("negative sampling", w2v.negSamplingLossAndGradient)):
        def f(v, lg=lg):
            return w2v.word2vec_sgd_wrapper(w2v.skipgram, toks, v, dataset, 5, lg)
        # skipgram adds each centre-word gradient to row N // 2 instead of the centre word's row:
        # the centre-vector rows are wrong (the assignment's own check says so too).
        cases.append({"codebase": "cs224n 2019 a2", "style": "f(x) -> (loss, grad), random contexts, reseed=0",
                          "name": f"skip-gram, {name}", "call": lambda f=f, **kw: fc.check_gradient(f, vecs, reseed=0, **kw),
                          "own": lambda f=f: gradcheck_naive(f, vecs.copy(), "word2vec"), "expect": ["theta"]})
    return cases


def nnfs_cases(path: Path):
    sys.path.insert(0, str(path))
    from lib.activations import Activation_ReLU, Activation_Softmax
    from lib.combo import Activation_Softmax_Loss_CategoricalCrossentropy
    from lib.dense_layer import Layer_Dense
    from lib.loss import Loss_CategoricalCrossentropy

    np.random.seed(0)
    X, y = np.random.randn(6, 4), np.array([0, 1, 2, 1, 0, 2])

    def dense(n_in, n_out):
        layer = Layer_Dense(n_in, n_out)
        layer.weights *= 100          # the library draws 0.01 * randn: move away from a near-linear point
        return layer
    style = "layers keep output / d_inputs (Neural Networks from Scratch)"
    cases = [{"codebase": "nn-from-scratch-py", "style": style, "name": name, "own": None, "expect": [],
              "call": lambda layer=layer, **kw: fc.check_layer(layer, X, **kw)}
             for name, layer in (("Layer_Dense", dense(4, 3)), ("Activation_ReLU", Activation_ReLU()),
                                 ("Activation_Softmax", Activation_Softmax()))]
    fused = [dense(4, 5), Activation_ReLU(), dense(5, 3), Activation_Softmax_Loss_CategoricalCrossentropy()]
    apart = [dense(4, 5), Activation_ReLU(), dense(5, 3), Activation_Softmax(), Loss_CategoricalCrossentropy()]
    for name, net in (("4-5-3 network, fused softmax cross-entropy", fused),
                      ("4-5-3 network, softmax then cross-entropy", apart)):
        cases.append({"codebase": "nn-from-scratch-py", "style": style, "name": name, "own": None, "expect": [],
                      "call": lambda net=net, **kw: fc.check_object(net, X, y, **kw)})
    return cases


def lstm_cases(path: Path):
    sys.path.insert(0, str(path))
    from lstm import LstmNetwork, LstmParam

    class SquaredFirst:       # the loss layer of the repository's example, written here
        @classmethod
        def loss(cls, pred, label):
            return (pred[0] - label) ** 2

        @classmethod
        def bottom_diff(cls, pred, label):
            d = np.zeros_like(pred)
            d[0] = 2 * (pred[0] - label)
            return d

    np.random.seed(0)
    param = LstmParam(8, 5)
    net = LstmNetwork(param)
    ys = [-0.5, 0.2, 0.1, -0.5]
    xs = [np.random.random(5) for _ in ys]

    def train_step():
        net.x_list_clear()
        for x in xs:
            net.x_list_add(x)
        return net.y_list_is(ys, SquaredFirst)
    return [{"codebase": "nicodjimenez/lstm", "style": "loss alone, gradients accumulated in *_diff",
             "name": "LSTM 5-8, 4 steps", "own": None, "expect": [],
             "call": lambda **kw: fc.check_loss(train_step, param, **kw)}]


def globals_rnn_cases(path: Path):
    sys.path.insert(0, str(path.parent))
    rnn = importlib.import_module(path.stem)   # imported by name, as a user imports a script beside them
    # What main() would make from a text of 12 distinct characters (hidden size 8, its 0.01 scale):
    np.random.seed(1)
    V, H = 12, 8
    rnn.vocab_size = V
    rnn.Wxh, rnn.Whh = np.random.randn(H, V) * 0.01, np.random.randn(H, H) * 0.01
    rnn.Why, rnn.bh, rnn.by = np.random.randn(V, H) * 0.01, np.zeros((H, 1)), np.zeros((V, 1))
    inputs = [int(i) for i in np.random.randint(0, V, size=10)]
    targets = inputs[1:] + [3]
    hprev = np.zeros((H, 1))
    names = ["Wxh", "Whh", "Why", "bh", "by"]
    own = classic_loop(rnn, names, lambda: rnn.loss_function(inputs, targets, hprev)[0])
    style = "module globals made in main() (training under __main__), loss_function -> (loss, *grads, h)"
    return [{"codebase": "char-RNN, globals made in main()", "style": style, "name": "loss_function, V=12, H=8, 10 steps",
             "call": lambda **kw: fc.check_module(rnn, "loss_function", args=(inputs, targets, hprev), **kw),
             "own": own, "expect": []},
            {"codebase": "char-RNN, globals made in main()", "style": style,
             "name": "loss_function, dWhh x1.001 (planted)", "own": None, "expect": ["Whh"],
             "call": lambda **kw: fc.check_loss(planted(rnn.loss_function, 2), rnn, inputs, targets, hprev, **kw)}]


def failing(result) -> list:
    return list(result.failing_blocks)


def timed_case(case, repeat):
    """One case: its results and seconds in every variant (see the module's docstring)."""
    call = case["call"]
    fresh_pool()
    first, t_first, _ = run(call)
    fresh_pool()
    first_pool, t_first_pool, fell = run(lambda: call(workers=2))
    variants = {"default": call, "serial": lambda: call(workers=1), "pool2": lambda: call(workers=2)}
    if case["own"] is not None:
        variants["own"] = case["own"]
    times = {k: [] for k in variants}
    results = {k: [] for k in variants}
    for _ in range(repeat):
        for k, fn in variants.items():
            out, dt, fb = run(fn)
            times[k].append(dt)
            results[k].append(out)
            if k == "pool2":
                fell += fb
    med = {k: statistics.median(v) for k, v in times.items()}
    serial = results["serial"][-1]
    pooled = [first_pool] + results["pool2"]
    agree = [agreement(r, serial) for r in pooled]
    got = failing(first)
    row = {"codebase": case["codebase"], "style": case["style"], "case": case["name"],
           "expected_failing": " ".join(case["expect"]) or "-", "failing": " ".join(got) or "-",
           "verdict": first.verdict, "as_expected": got == case["expect"],
           "serial_verdict": serial.verdict, "pooled_verdict": first_pool.verdict,
           "serial_same_verdict": failing(serial) == got and serial.verdict == first.verdict,
           "pooled_same_status": all(a[0] for a in agree), "pooled_within_bars": all(a[1] for a in agree),
           "pooled_bitwise": all(a[2] for a in agree),
           "pool_ran": all("pool of" in r.path for r in pooled),
           "pool_fallback": (fell[0][:140] if fell else "-"),
           "default_path": first.path,
           "first_call_s": round(t_first, 4), "first_pool2_s": round(t_first_pool, 4),
           "warm_default_s": round(med["default"], 4), "warm_serial_s": round(med["serial"], 4),
           "warm_pool2_s": round(med["pool2"], 4), "own_checker_s": round(med.get("own", float("nan")), 4)}
    print(f"{row['case'][:48]:48s} {row['verdict']:12s} failing={row['failing']:8s} ok={row['as_expected']} "
          f"pool: same={row['pooled_same_status']} bars={row['pooled_within_bars']} bits={row['pooled_bitwise']} "
          f"ran={row['pool_ran']} | first={t_first:.3f} first2={t_first_pool:.3f} warm={med['default']:.3f} "
          f"serial={med['serial']:.3f} pool2={med['pool2']:.3f} own={med.get('own', float('nan')):.3f}", flush=True)
    return row


def ratio_range(a, b) -> str:
    r = (a / b).replace([np.inf, -np.inf], np.nan).dropna()
    return f"{r.min():.2f}-{r.max():.2f}x (median {r.median():.2f}x, {len(r)} cases)" if len(r) else "-"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cs231n", type=Path, help="folder holding the cs231n/ package")
    p.add_argument("--char-rnn", type=Path, help="the class-based min-char-rnn script")
    p.add_argument("--word2vec", type=Path, help="folder holding word2vec.py and utils/")
    p.add_argument("--nnfs", type=Path, help="folder holding lib/dense_layer.py (nn-from-scratch-py)")
    p.add_argument("--lstm", type=Path, help="folder holding lstm.py (nicodjimenez/lstm)")
    p.add_argument("--globals-rnn", type=Path, help="a char-RNN script whose module globals main() makes")
    p.add_argument("--repeat", type=int, default=3)
    add_write_option(p, OUT)
    args = p.parse_args(argv)
    cases = []
    for flag, make in (("cs231n", cs231n_cases), ("char_rnn", char_rnn_cases), ("word2vec", word2vec_cases),
                       ("nnfs", nnfs_cases), ("lstm", lstm_cases), ("globals_rnn", globals_rnn_cases)):
        if getattr(args, flag):
            cases += make(getattr(args, flag))
    if not cases:
        p.error("give at least one of --cs231n, --char-rnn, --word2vec, --nnfs, --lstm, --globals-rnn")
    load0 = os.getloadavg()[0]
    rows = [timed_case(case, args.repeat) for case in cases]
    df = pd.DataFrame(rows)
    load1 = os.getloadavg()[0]
    n = len(df)
    print(f"{int(df.as_expected.sum())}/{n} as expected; pooled = serial status in {int(df.pooled_same_status.sum())}/{n}, "
          f"within bars {int(df.pooled_within_bars.sum())}/{n}, bitwise {int(df.pooled_bitwise.sum())}/{n}, pool ran "
          f"{int(df.pool_ran.sum())}/{n}; load {load0:.2f} -> {load1:.2f}")
    out = report_dir(args.write, OUT)
    if out is None:
        return 0
    df.to_csv(out / "public.csv", index=False)
    cols = ["codebase", "case", "expected_failing", "failing", "verdict", "pooled_same_status", "pooled_within_bars",
            "pooled_bitwise", "pool_ran", "first_call_s", "first_pool2_s", "warm_default_s", "warm_serial_s",
            "warm_pool2_s", "own_checker_s"]
    own = df.dropna(subset=["own_checker_s"])
    command = " ".join(["python", "benchmarks/bench_public_code.py"] + (argv if argv is not None else sys.argv[1:]))
    lines = ["# Public code, checked as a new user would", "",
             (f"`{command}` — 1-minute load average {load0:.2f} at the start, {load1:.2f} at the end "
              f"({os.cpu_count()} cores, shared machine)."), "",
             "Each case is one fastcheck call with no glue (see the benchmark's docstring for the codebases).",
             (f"{int(df.as_expected.sum())} of {n} cases gave the expected failing blocks. The pool forced "
              f"(`workers=2`, a fresh pool and {args.repeat} warm calls) gave the serial (`workers=1`) status per "
              f"block and per entry in {int(df.pooled_same_status.sum())} of {n}, numbers within the error bars in "
              f"{int(df.pooled_within_bars.sum())} of {n} and bitwise equal in {int(df.pooled_bitwise.sum())} of {n}; "
              f"the pool ran (no fallback to the serial loop) in {int(df.pool_ran.sum())} of {n}. The default "
              f"(`workers=\"auto\"`) gave the serial verdict in {int(df.serial_same_verdict.sum())} of {n}."),
             ("Seconds are medians of interleaved rounds; `first_call_s` is the first call with default settings "
              "and no pool running, `first_pool2_s` the first `workers=2` call on a fresh pool (start-up included), "
              "`warm_pool2_s` with the pool running."),
             "", "Ratios (time / time, per case):", "",
             f"- warm `workers=2` / warm `workers=1`: {ratio_range(df.warm_pool2_s, df.warm_serial_s)}",
             f"- first `workers=2` (fresh pool) / warm `workers=1`: {ratio_range(df.first_pool2_s, df.warm_serial_s)}",
             f"- first call (default) / warm `workers=1`: {ratio_range(df.first_call_s, df.warm_serial_s)}",
             f"- warm default / own checker: {ratio_range(own.warm_default_s, own.own_checker_s)}",
             f"- warm `workers=2` / own checker: {ratio_range(own.warm_pool2_s, own.own_checker_s)}",
             f"- first call (default) / own checker: {ratio_range(own.first_call_s, own.own_checker_s)}",
             "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(str(r[c]) for c in cols) + " |")
    fell = df[df.pool_fallback != "-"]
    if len(fell):
        lines += ["", "Pooled runs that fell back to the serial loop (`PoolFallbackWarning`):", ""]
        lines += [f"- {r.codebase}, {r.case}: {r.pool_fallback}" for r in fell.itertuples()]
    (out / "public.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'public.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
