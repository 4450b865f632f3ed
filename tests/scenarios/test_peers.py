"""The peer comparison: the peers compute the same function, each checker
returns what it should, extrapolation is honest and marked, reports are written."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks import peers
from benchmarks.peers import harness
from benchmarks.peers.__main__ import main as peers_main
from fastcheck import relative_difference
from fastcheck.cli import main
from fastcheck.models import MLP
from tests import naive

TORCH = peers.torch_available()
needs_torch = pytest.mark.skipif(not TORCH, reason="torch is not installed")


@pytest.fixture(scope="module")
def seed_problem():
    return peers.make_problem("seed 2-3-1")


@pytest.fixture(scope="module")
def small_problem():
    """A 5-4-3 sigmoid MLP with biases on 7 samples: every block kind, few parameters."""
    model = MLP([5, 4, 3], activations="sigmoid", loss="sse")
    theta = model.init(3)
    X, y = model.sample_data(7, seed=3)
    return peers.Problem("5-4-3", model, theta, X, y, model.grad(theta, X, y))


def _naive_cost(p):
    m = p.model
    return lambda t: naive.mlp_cost(t, p.X, p.y, m.sizes, "sigmoid", "sse", bias=m.bias)


# -- the re-implemented networks compute the model's function -----------------------
@pytest.mark.parametrize("which", ["seed_problem", "small_problem"])
def test_seeds_network_matches_model_and_naive(which, request):
    p = request.getfixturevalue(which)
    net = peers.network_like(p.model)
    net.setParams(p.theta.copy())
    np.testing.assert_array_equal(net.getParams(), p.theta)
    ref = _naive_cost(p)(p.theta)
    tol = naive.roundoff(len(p.X) + sum(p.model.sizes))  # the same sums in other orders
    assert net.cost(p.theta, p.X, p.y) == pytest.approx(ref, rel=tol)
    assert p.model.cost(p.theta, p.X, p.y) == pytest.approx(ref, rel=tol)
    np.testing.assert_allclose(net.computeGradients(p.X, p.y), p.grad, rtol=tol, atol=tol * np.abs(p.grad).max())


def test_seeds_network_refuses_other_models():
    with pytest.raises(ValueError, match="sigmoid units with the 'sse' loss"):
        peers.network_like(MLP([3, 2], activations="tanh"))
    with pytest.raises(ValueError, match="sigmoid units"):
        peers.network_like(MLP([3, 2], loss="mse"))


@needs_torch
@pytest.mark.parametrize("which", ["seed_problem", "small_problem"])
def test_torch_network_matches_model(which, request):
    import torch

    p = request.getfixturevalue(which)
    f = peers.torch_cost(p.model, p.X, p.y)
    t = torch.tensor(p.theta, dtype=torch.float64, requires_grad=True)
    value = f(t)
    value.backward()
    assert value.item() == pytest.approx(_naive_cost(p)(p.theta), rel=1e-14)
    np.testing.assert_allclose(t.grad.numpy(), p.grad, rtol=1e-12, atol=1e-15)


# -- the tutorial's loop --------------------------------------------------------------------------
def test_tutorial_loop_on_the_seeds_network(seed_problem):
    p = seed_problem
    net = peers.network_like(p.model)
    net.setParams(p.theta.copy())
    numgrad = peers.tutorial_numerical_gradient(net, p.X, p.y)
    # the tutorial's own reading: norm(grad − numgrad) / norm(grad + numgrad) ≈ 1e-10
    assert np.linalg.norm(p.grad - numgrad) / np.linalg.norm(p.grad + numgrad) < 1e-8
    np.testing.assert_allclose(numgrad, naive.central_difference(_naive_cost(p), p.theta, 1e-4), rtol=1e-10, atol=1e-13)
    np.testing.assert_array_equal(net.getParams(), p.theta)  # restored


def test_tutorial_loop_on_coordinates_only(small_problem):
    p = small_problem
    net = peers.network_like(p.model)
    net.setParams(p.theta.copy())
    coords = np.array([0, 7, 20, p.n_params - 1])
    g = peers.tutorial_numerical_gradient(net, p.X, p.y, coords)
    full = peers.tutorial_numerical_gradient(net, p.X, p.y)
    np.testing.assert_array_equal(g[coords], full[coords])
    assert np.count_nonzero(np.delete(g, coords)) == 0


# -- every checker on one problem ---------------------------------------------------------------
# Tolerances by the scheme's order: forward differences ~1e-7, central ~1e-9.
ACCURACY = {
    "tutorial loop": 1e-8,
    "scipy approx_fprime": 1e-6,
    "scipy approx_derivative 3-point": 1e-9,
    "fastcheck blackbox": 1e-8,
    "fastcheck structured": 1e-8,
    "fastcheck sampled": 1e-8,
    "fastcheck directional": 1e-8,
}


@pytest.mark.parametrize("name", [n for n in peers.PEERS])
def test_each_peer_checks_the_seed_problem(name, seed_problem):
    peer = peers.PEERS[name]
    if not peer.available():
        pytest.skip(f"{name} is not available here")
    p = seed_problem
    out = peer.run(p, None)
    if name.startswith("torch"):
        assert out.numerical is None and out.passed is True
        assert out.checked == (1 if name.endswith("fast") else p.n_params)
        return
    if out.analytic is None:  # a NumPy/scipy peer: compare with the backprop gradient ourselves
        assert out.numerical.shape == (p.n_params,)
        diff = relative_difference(p.grad, out.numerical)
    else:
        diff = relative_difference(out.analytic, out.numerical)
        assert out.passed is True
    assert diff < ACCURACY[name]


@pytest.mark.parametrize("name", ["scipy approx_fprime", "scipy approx_derivative 3-point", "tutorial loop"])
def test_subset_runs_give_the_full_runs_values(name, small_problem):
    """A peer restricted to some coordinates computes exactly what its full run does there."""
    peer = peers.PEERS[name]
    coords = peers.subset_coords(small_problem.n_params, 9)
    part = peer.run(small_problem, coords)
    full = peer.run(small_problem, None)
    assert part.checked == len(coords) == 9
    np.testing.assert_array_equal(part.numerical, full.numerical[coords])


@needs_torch
def test_gradcheck_subset_catches_a_wrong_gradient(small_problem):
    """The restricted function stays differentiable: gradcheck's analytic side is real."""
    import torch

    f = peers.torch_cost(small_problem.model, small_problem.X, small_problem.y)
    base = torch.as_tensor(small_problem.theta.copy())
    idx = torch.as_tensor(peers.subset_coords(small_problem.n_params, 5))

    class Wrong(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            return 2 * g  # wrong on purpose

    x = base[idx].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda s: f(base.index_put((idx,), s)), (x,), raise_exception=False)
    assert not torch.autograd.gradcheck(lambda s: f(base.index_put((idx,), Wrong.apply(s))), (x,), raise_exception=False)


# -- timing and extrapolation --------------------------------------------------------------------
def test_subset_coords_spread_and_clip():
    c = peers.subset_coords(1000, 10)
    assert len(c) == 10 and c[0] == 0 and c[-1] == 999 and np.all(np.diff(c) > 0)
    np.testing.assert_array_equal(peers.subset_coords(5, 10), np.arange(5))


def _fake(monkeypatch, a, b):
    """Make every timed run take exactly a + b·k seconds for k coordinates (n for a whole run)."""
    def timed(fn, p, coords=None):
        out = fn(p, coords)
        k = p.n_params if coords is None else len(coords)
        return a + b * k, out

    monkeypatch.setattr(harness, "_timed", timed)


def _fake_peer(subset=True):
    def run(p, coords):
        k = p.n_params if coords is None else len(coords)
        return peers.Outcome(np.zeros(k), None, k)

    return peers.Peer("fake", run, subset=subset)


def _fake_problem(n):
    return peers.Problem("fake", None, np.zeros(n), np.zeros((1, 1)), np.zeros((1, 1)), np.zeros(n))


def test_time_peer_extrapolates_beyond_the_budget(monkeypatch):
    _fake(monkeypatch, a=0.05, b=1e-3)
    t = peers.time_peer(_fake_peer(), _fake_problem(100_000), budget=10.0)
    assert t.extrapolated
    assert t.seconds == pytest.approx(0.05 + 1e-3 * 100_000, rel=1e-6)
    assert t.coords is not None and 16 < len(t.coords) < 100_000
    # half the budget went to the subset run
    assert 0.05 + 1e-3 * len(t.coords) == pytest.approx(5.0, rel=0.01)
    assert f"timed on {len(t.coords)} of 100000 coordinates" in t.how


def test_time_peer_measures_whole_runs_within_the_budget(monkeypatch):
    _fake(monkeypatch, a=0.05, b=1e-3)
    t = peers.time_peer(_fake_peer(), _fake_problem(5_000), budget=10.0)
    assert not t.extrapolated and t.coords is None and t.how == "measured"
    assert t.seconds == pytest.approx(5.05)
    assert t.repeats == 1  # over a second: not repeated


def test_time_peer_never_extrapolates_a_whole_only_checker(monkeypatch):
    _fake(monkeypatch, a=0.05, b=1e-3)
    t = peers.time_peer(_fake_peer(subset=False), _fake_problem(100_000), budget=1.0)
    assert not t.extrapolated and t.seconds == pytest.approx(100.05)


def test_time_peer_repeats_short_runs(monkeypatch):
    _fake(monkeypatch, a=0.0, b=1e-5)
    t = peers.time_peer(_fake_peer(), _fake_problem(50), budget=10.0, repeat=3)
    assert t.repeats == 3 and t.seconds == pytest.approx(5e-4)


# -- the whole comparison and its reports ------------------------------------------------------------
@pytest.fixture(scope="module")
def comparison():
    names = ["tutorial loop", "scipy approx_derivative 3-point", "fastcheck blackbox", "fastcheck directional"]
    if peers.PEERS["fastcheck structured"].available():
        names.append("fastcheck structured")
    return peers.compare(["seed 2-3-1"], names, budget=30.0, repeat=1)


def test_compare_rows_and_ratios(comparison):
    df = comparison
    assert list(df.columns) == peers.COLUMNS
    assert set(df["problem"]) == {"seed 2-3-1"} and (df["n_params"] == 9).all()
    ref = df["ratio_to"].iloc[0]
    assert ref in peers.REFERENCES and (df["ratio_to"] == ref).all()
    base = df.loc[df["peer"] == ref, "seconds"].iloc[0]
    np.testing.assert_allclose(df["ratio"], df["seconds"] / base)
    assert (df["seconds"] > 0).all() and not df["extrapolated"].any()
    assert (df["difference"] < 1e-8).all()
    row = df.set_index("peer").loc["fastcheck directional"]
    assert row["unit"] == "directions" and row["checked"] == 8 * 2  # 8 per block, W1 and W2


def test_compare_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown problem"):
        peers.compare(["1-2-3"])
    with pytest.raises(ValueError, match="unknown peer"):
        peers.compare(["seed 2-3-1"], ["numdifftools"])
    with pytest.raises(ValueError, match="budget"):
        peers.compare(["seed 2-3-1"], ["tutorial loop"], budget=0)
    with pytest.raises(ValueError, match="batch"):
        peers.make_problem("64-32-10", batch=0)


def test_report_files_and_extrapolation_marks(comparison, tmp_path):
    df = comparison.copy()
    df.loc[0, "extrapolated"] = True
    df.loc[0, "checked"] = 4
    paths = peers.write_report(df, tmp_path, header="header line")
    back = pd.read_csv(paths["csv"])
    assert len(back) == len(df) and list(back.columns) == peers.COLUMNS
    md = paths["md"].read_text()
    assert "header line" in md
    table_rows = [ln for ln in md.splitlines() if ln.startswith("| seed")]
    assert len(table_rows) == len(df)
    assert "(extrapolated)" in table_rows[0] and "4 of 9" in table_rows[0]
    assert all("(extrapolated)" not in ln for ln in table_rows[1:])
    assert paths["png"].stat().st_size > 0
    if "parquet" in paths:
        assert len(pd.read_parquet(paths["parquet"])) == len(df)


def test_peers_command(tmp_path, capsys):
    code = peers_main(["--sizes", "seed", "--peers", "tutorial-loop", "fastcheck-blackbox",
                 "--repeat", "1", "--quiet", "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "| seed 2-3-1 | 9 | tutorial loop |" in out and "| seed 2-3-1 | 9 | fastcheck blackbox |" in out
    df = pd.read_csv(tmp_path / "peers.csv")
    assert list(df["peer"]) == ["tutorial loop", "fastcheck blackbox"]
    assert (tmp_path / "peers.md").exists() and (tmp_path / "peers.png").exists()


def test_the_old_bench_command_is_gone(capsys):
    with pytest.raises(SystemExit) as exc:  # argparse: invalid choice, exit 2
        main(["bench", "peers", "--sizes", "tutorial"])
    assert exc.value.code == 2 and "invalid choice: 'bench'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--sizes", "9-9-9"], "unknown problem '9-9-9'"),
        (["--peers", "numdifftools"], "unknown peer"),
        (["--budget", "0"], "--budget"),
        (["--batch", "0"], "--batch"),
    ],
)
def test_peers_command_bad_input(argv, message, tmp_path, capsys):
    assert peers_main(["--out", str(tmp_path), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "peers.csv").exists()
