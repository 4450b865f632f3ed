"""Sweeps: orders on known derivatives, a naive reference, resume, bad input, Dask."""
import io
import os
import signal
import subprocess
import sys
import time

import numba
import numpy as np
import pandas as pd
import pytest

from fastcheck.core.steps import SCHEMES
from fastcheck.errors import ResultsExistError
from fastcheck.models import tutorial_network
from fastcheck.problems import Problem, get_problem, smooth_cost_numpy, smooth_grad
from fastcheck.support.progress import make_progress
from fastcheck.sweep import (
    DEFAULT_EPS,
    EPS_SCHEMA,
    SIZE_SCHEMA,
    TIMING_COLUMNS,
    GridError,
    eps_sweep,
    fit_orders,
    size_sweep,
)
from fastcheck.sweep.schema import EPS_KEY
from fastcheck.sweep.store import ResultStore
from tests.naive import SeedNetwork, seed_data

THREADS = (1, 2) if numba.config.NUMBA_NUM_THREADS >= 2 else (1,)


def same_results(a: pd.DataFrame, b: pd.DataFrame, ignore=TIMING_COLUMNS):
    """Equal tables, timing columns aside (exact: same numbers, same order)."""
    keep = [c for c in a.columns if c not in ignore]
    pd.testing.assert_frame_equal(a[keep].reset_index(drop=True), b[keep].reset_index(drop=True), check_exact=True)


def fit_of(fits, scheme, dtype, problem=None):
    sel = (fits["scheme"] == scheme) & (fits["dtype"] == dtype)
    if problem is not None:
        sel &= fits["problem"] == problem
    return fits[sel].iloc[0]


# -- naive reference: the seeds' loop with the textbook formulas -------------------------
def naive_numerical(f, theta, eps, scheme):
    """Per coordinate, at the effective step h = fl(θ_i + ε) − θ_i in θ's dtype."""
    out = np.empty(len(theta))
    f0 = float(f(theta.copy()))
    for i in range(len(theta)):
        x = theta[i]

        def at(c):
            t = theta.copy()
            t[i] = x + c * h
            return float(f(t))

        if scheme == "complex":  # the step is ε held in θ's dtype
            hc = float(theta.dtype.type(eps))
            z = theta.astype(np.complex64 if theta.dtype == np.float32 else np.complex128)  # θ's precision
            z[i] += 1j * hc
            out[i] = np.imag(f(z)) / hc
            continue
        h = float((x + theta.dtype.type(eps)) - x)
        if scheme == "forward":
            out[i] = (at(1) - f0) / h
        elif scheme == "central":
            out[i] = (at(1) - at(-1)) / (2 * h)
        else:
            out[i] = (at(-2) - 8 * at(-1) + 8 * at(1) - at(2)) / (12 * h)
    return out


# -- the sweep on a smooth function with known derivatives ---------------------------------
@pytest.fixture(scope="module")
def smooth_df():
    return eps_sweep("smooth:n=8")


def test_one_tidy_row_per_grid_point(smooth_df):
    df = smooth_df
    assert list(df.columns) == list(EPS_SCHEMA)
    assert len(df) == 4 * 2 * len(DEFAULT_EPS) and len(DEFAULT_EPS) >= 25
    assert not df.duplicated(list(EPS_KEY)).any()
    assert DEFAULT_EPS[0] == 1.0 and DEFAULT_EPS[-1] == pytest.approx(1e-14)
    assert (df["n_params"] == 8).all() and (df["checked"] == 8).all()
    assert {"fastcheck_version", "numba_version", "numpy_version"} <= set(df.columns)
    ran = df[~df["note"].str.startswith("skipped")]
    for name, g in ran.groupby("scheme"):
        assert (g["n_evals"] == 8 * SCHEMES[name].evals_per_coord).all()
    assert (ran["seconds"] > 0).all() and (ran["path"] == "parallel").all()


def test_orders_on_a_function_with_known_derivatives(smooth_df):
    fits = fit_orders(smooth_df)
    expected = {"forward": 1, "central": 2, "central4": 4, "complex": 2}
    for scheme, order in expected.items():
        f = fit_of(fits, scheme, "float64")
        assert f["order"] == order
        assert f["truncation_slope"] == pytest.approx(order, abs=0.12 * order), scheme
        if scheme == "complex":  # no subtraction, no round-off branch
            assert np.isnan(f["roundoff_slope"]) and f["floor"] < 1e-14
        else:
            assert f["roundoff_slope"] == pytest.approx(-1, abs=0.15), scheme
            # the best step sits within a decade and a half of the textbook u^(1/(p+1))
            assert abs(np.log10(f["best_eps"] / f["predicted_eps"])) <= 1.5, scheme
    # float32: the same truncation orders, a higher floor
    for scheme in ("forward", "central"):
        f32, f64 = fit_of(fits, scheme, "float32"), fit_of(fits, scheme, "float64")
        assert f32["truncation_slope"] == pytest.approx(expected[scheme], abs=0.2 * expected[scheme])
        assert f32["floor"] > 100 * f64["floor"]


def test_float32_steps_below_resolution_are_recorded_not_dropped(smooth_df):
    df = smooth_df[(smooth_df["dtype"] == "float32") & (smooth_df["scheme"] == "central")]
    tiny = df[df["eps"] < 1e-8]
    assert len(tiny) and tiny["difference"].isna().all()
    assert tiny["note"].str.contains("below float32 resolution").all()
    assert df[df["eps"] > 1e-6]["difference"].notna().all()


def test_sweep_errors_match_the_naive_loop():
    p = get_problem("smooth:n=5,jit=0,seed=4")
    eps = (1e-1, 1e-2, 1e-3, 1e-4, 1e-6)
    df = eps_sweep(p, eps=eps)
    for dtype in ("float64", "float32"):
        theta, (cd,) = p.at(dtype)
        ref = p.reference_gradient(dtype)
        u = np.finfo(dtype).eps
        fmax = abs(float(smooth_cost_numpy(theta, cd)))
        for scheme in ("forward", "central", "central4", "complex"):
            for e in eps:
                row = df[(df["dtype"] == dtype) & (df["scheme"] == scheme) & (df["eps"] == e)].iloc[0]
                if np.isnan(row["max_abs_err"]):  # a float32 step below resolution
                    assert dtype == "float32" and "resolution" in row["note"]
                    continue
                want = np.max(np.abs(naive_numerical(lambda t: smooth_cost_numpy(t, cd), theta, e, scheme) - ref))
                if scheme == "complex":  # the same points, no subtraction: equal to rounding in θ's precision
                    noise = 4 * u * np.max(np.abs(ref))
                else:  # the two may round the stencil's combination differently
                    h = np.abs((theta + theta.dtype.type(e)) - theta).astype(np.float64).min()
                    noise = 64 * u * fmax / h
                assert abs(row["max_abs_err"] - want) <= 1e-9 * want + noise, (dtype, scheme, e)


def test_shared_stencil_gives_the_numbers_of_separate_runs(smooth_df):
    sub = smooth_df[smooth_df["eps"].isin(DEFAULT_EPS[::4])].reset_index(drop=True)
    alone = eps_sweep("smooth:n=8", eps=DEFAULT_EPS[::4], share=False)
    same_results(sub, alone)


def test_one_and_two_threads_give_the_same_table(two_threads):
    eps = DEFAULT_EPS[::3]
    one = eps_sweep("smooth:n=8", eps=eps, threads=1)
    two = eps_sweep("smooth:n=8", eps=eps, threads=two_threads)
    assert (one["threads"] == 1).all() and (two["threads"] == 2).all()
    same_results(one, two)


def test_the_seeds_numpy_network_as_a_tuple():
    X, y = seed_data()
    net = SeedNetwork(seed=2)
    df = eps_sweep((net.cost_of, net.getParams(), net.grad_of, (X, y)), eps=np.logspace(0, -13, 40))
    assert (df["problem"] == "cost_of").all() and (df["path"] == "loop").all()
    fits = fit_orders(df)
    for scheme, order in {"forward": 1, "central": 2, "central4": 4, "complex": 2}.items():
        assert fit_of(fits, scheme, "float64")["truncation_slope"] == pytest.approx(order, abs=0.12 * order)
    assert fit_of(fits, "central", "float32")["truncation_slope"] == pytest.approx(2, abs=0.4)


def test_a_cost_without_complex_support_is_skipped_with_a_reason():
    def real_only(theta, c):
        return smooth_cost_numpy(np.real(theta), c)

    p = get_problem("smooth:n=3,jit=0")
    df = eps_sweep(Problem("real-only", real_only, p.theta, smooth_grad, p.args), eps=(1e-3, 1e-5), dtypes=("float64",))
    cx = df[df["scheme"] == "complex"]
    assert cx["difference"].isna().all()
    assert cx["note"].str.contains("returns a real value for complex theta").all()
    assert df[df["scheme"] != "complex"]["difference"].notna().all()


# -- the built-in network, with the structure-aware kernel --------------------------------
@pytest.fixture(scope="module")
def seed_df():
    return eps_sweep(["tutorial", "tutorial-numpy"])


def test_the_seeds_network_sweep(seed_df):
    """The seeds' network twice: the built-in model (structure-aware kernel, float32 and complex
    step included) and the seeds' own NumPy code (loop evaluator).  Same function, so the same
    error curves wherever truncation dominates rounding."""
    seed = seed_df[seed_df["problem"] == "tutorial"]
    assert (seed["path"] == "structured").all()
    computed = seed[seed["note"] == ""]
    # every scheme and precision has its curve; only float32 steps below resolution are missing
    every = {(s, d) for s in ("forward", "central", "central4", "complex") for d in ("float64", "float32")}
    assert set(zip(computed["scheme"], computed["dtype"])) == every
    assert (seed[seed["note"] != ""]["note"].str.contains("below float32 resolution")).all()
    fits = fit_orders(seed_df)
    for scheme, order in {"forward": 1, "central": 2, "central4": 4, "complex": 2}.items():
        for problem in ("tutorial", "tutorial-numpy"):
            assert fit_of(fits, scheme, "float64", problem)["truncation_slope"] == pytest.approx(order, abs=0.1 * order)
        if scheme != "central4":  # float32's best central4 step is 0.1: too few larger ones for a slope
            assert fit_of(fits, scheme, "float32", "tutorial")["truncation_slope"] == pytest.approx(order, abs=0.1 * order)
    # float32 rounds: its best error is far above float64's (the complex step has no
    # subtraction, so its floor is float32's own precision)
    for scheme in ("forward", "central", "central4", "complex"):
        f32, f64 = fit_of(fits, scheme, "float32", "tutorial"), fit_of(fits, scheme, "float64", "tutorial")
        assert f32["floor"] > 100 * f64["floor"]
    # on the truncation side, well above the floor, the two implementations' errors coincide
    for (scheme, dtype), a in seed_df[seed_df["problem"] == "tutorial"].groupby(["scheme", "dtype"]):
        b = seed_df[(seed_df["problem"] == "tutorial-numpy") & (seed_df["scheme"] == scheme) & (seed_df["dtype"] == dtype)]
        fit = fit_of(fits, scheme, dtype, "tutorial")
        level = max(30 * fit["floor"], 1e-12 if dtype == "float64" else 1e-6)  # far above rounding
        trunc = ((a["eps"] > fit["best_eps"]) & (a["max_abs_err"] > level)).to_numpy()
        assert trunc.sum() >= (1 if (scheme, dtype) == ("central4", "float32") else 2), (scheme, dtype)
        np.testing.assert_allclose(a["max_abs_err"].to_numpy()[trunc], b["max_abs_err"].to_numpy()[trunc],
                                   rtol=1e-4 if dtype == "float64" else 5e-2, err_msg=f"{scheme} {dtype}")


def test_structured_and_blackbox_kernels_agree():
    eps = (1e-1, 1e-2, 1e-3, 1e-4)
    s = eps_sweep("tutorial", eps=eps, schemes=("central", "central4"), dtypes=("float64",))
    b = eps_sweep("tutorial", eps=eps, schemes=("central", "central4"), dtypes=("float64",), structured=False)
    assert (s["path"] == "structured").all() and (b["path"] == "parallel").all()
    # equal up to how each rounds the costs: |J|·u per cost, over the step
    p = get_problem("tutorial")
    J = abs(p.model.cost(p.theta, *p.data))
    noise = 64 * np.finfo(float).eps * J / s["eps"]
    assert (np.abs(s["max_abs_err"] - b["max_abs_err"]) <= 1e-6 * b["max_abs_err"] + noise).all()
    assert (s["max_abs_err"] > 10 * noise).sum() >= 4  # and the comparison has teeth
    # float32: both compute in float32 (the black-box cost as float32 BLAS products)
    eps = (1.0, 0.3, 0.1, 1e-2, 1e-3)
    s = eps_sweep("tutorial", eps=eps, schemes=("central",), dtypes=("float32",))
    b = eps_sweep("tutorial", eps=eps, schemes=("central",), dtypes=("float32",), structured=False)
    assert (s["path"] == "structured").all() and (b["path"] == "parallel").all()
    noise = 64 * np.finfo(np.float32).eps * J / s["eps"]
    assert (np.abs(s["max_abs_err"] - b["max_abs_err"]) <= 1e-3 * b["max_abs_err"] + noise).all()
    assert (s["max_abs_err"] > 10 * noise).sum() >= 2


# (fit_curve and fit_orders on their own: tests/sweep/test_fit.py)


# -- bad input: one clear error, before any work --------------------------------------------
class Counting:
    """A cost that counts its calls (and can blow up after some)."""

    def __init__(self, after=None):
        self.calls = 0
        self.after = after

    def __call__(self, theta, c):
        self.calls += 1
        if self.after is not None and self.calls > self.after:
            raise RuntimeError("boom: the machine went away")
        return smooth_cost_numpy(theta, c)


def counted(after=None, name="counted"):
    p = get_problem("smooth:n=4,jit=0")
    cost = Counting(after)
    return Problem(name, cost, p.theta, smooth_grad, p.args), cost


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"eps": []}, "no eps given"),
        ({"eps": [1e-3, 0.0]}, "eps must be positive and finite, got 0.0"),
        ({"eps": [np.nan]}, "eps must be positive and finite"),
        ({"eps": [-1e-3]}, "eps must be positive"),
        ({"schemes": ()}, "no scheme given"),
        ({"schemes": ("central", "sideways")}, "unknown scheme 'sideways'"),
        ({"dtypes": ("float16",)}, "unknown dtype 'float16'"),
        ({"dtypes": ("int8",)}, "unknown dtype 'int8'"),
        ({"dtypes": ()}, "no dtype given"),
        ({"threads": 0}, "threads must be integers between 1"),
        ({"threads": 10_000}, "threads must be integers between 1"),
        ({"sample": 0}, "sample must be a positive integer"),
        ({"coords": [0], "sample": 1}, "coords or sample"),
        ({"coords": [99]}, "outside theta"),
    ],
)
def test_bad_eps_sweep_input_fails_before_any_work(tmp_path, kwargs, match):
    p, cost = counted()
    with pytest.raises((GridError, ValueError, IndexError), match=match):
        eps_sweep(p, out=tmp_path / "r", **kwargs)
    assert cost.calls == 0
    assert not (tmp_path / "r").exists()


def test_bad_problems_fail_before_any_work(tmp_path):
    p, cost = counted()
    with pytest.raises(GridError, match="no problem given"):
        eps_sweep([], out=tmp_path)
    with pytest.raises(ValueError, match="cannot load problem file"):
        bad = tmp_path / "bad.py"
        bad.write_text("this is not python\n")
        eps_sweep([p, f"{bad}:make"], out=tmp_path / "r")
    with pytest.raises(GridError, match="names must be unique"):
        eps_sweep([p, p])
    assert cost.calls == 0 and not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"modes": ()}, "no mode given"),
        ({"modes": ("fast",)}, "unknown mode 'fast'"),
        ({"threads": ()}, "no thread counts"),
        ({"threads": (0,)}, "threads must be integers"),
        ({"repeat": 0}, "repeat must be a positive integer"),
        ({"budget": 0}, "budget must be a positive number"),
        ({"sizes": []}, "no sizes given"),
    ],
)
def test_bad_size_sweep_input(kwargs, match):
    kwargs = {"sizes": ["smooth:n=3"], "threads": (1,), **kwargs}
    with pytest.raises(GridError, match=match):
        size_sweep(**kwargs)


# -- results file: append, resume, refuse to clobber --------------------------------------
EPS = tuple(np.logspace(0, -10, 11))
SCH = ("forward", "central", "complex")


def test_interrupted_sweep_resumes_to_the_uninterrupted_table(tmp_path):
    good, _ = counted(name="job")
    full = eps_sweep(good, eps=EPS, schemes=SCH)

    bomb, _ = counted(after=150, name="job")
    with pytest.raises(RuntimeError, match="boom"):
        eps_sweep(bomb, eps=EPS, schemes=SCH, out=tmp_path)
    partial = ResultStore(tmp_path, EPS_SCHEMA).read()
    assert 0 < len(partial) < len(full)
    assert len(partial) % len(SCH) == 0  # whole grid points only

    again, cost = counted(name="job")
    resumed = eps_sweep(again, eps=EPS, schemes=SCH, out=tmp_path, resume=True)
    same_results(resumed, full)
    # finished points were kept, not recomputed: their timings are the first run's
    kept = resumed.merge(partial, on=list(EPS_KEY), suffixes=("", "_first"))
    assert len(kept) == len(partial) and (kept["seconds"] == kept["seconds_first"]).all()
    assert 0 < cost.calls
    # the file now holds the final table in grid order; a further resume computes nothing
    same_results(ResultStore(tmp_path, EPS_SCHEMA).read(), full)
    idle, idle_cost = counted(name="job")
    same_results(eps_sweep(idle, eps=EPS, schemes=SCH, out=tmp_path, resume=True), full)
    assert idle_cost.calls == 0


def test_results_are_never_clobbered_silently(tmp_path):
    p, _ = counted()
    eps_sweep(p, eps=EPS[:3], schemes=("central",), dtypes=("float64",), out=tmp_path)
    with pytest.raises(ResultsExistError, match="--resume"):
        eps_sweep(p, eps=EPS[:3], schemes=("central",), dtypes=("float64",), out=tmp_path)
    with pytest.raises(ValueError, match="options differ.*sample"):
        eps_sweep(p, eps=EPS[:3], schemes=("central",), dtypes=("float64",), out=tmp_path, resume=True, sample=1)
    again = eps_sweep(p, eps=EPS[:3], schemes=("central",), dtypes=("float64",), out=tmp_path, overwrite=True)
    assert len(again) == 3
    # a wider grid on resume computes only the new points and keeps the old ones
    wider = eps_sweep(p, eps=EPS[:5], schemes=("central",), dtypes=("float64",), out=tmp_path, resume=True)
    assert len(wider) == 5 and (wider["seconds"].iloc[:3].to_numpy() == again["seconds"].to_numpy()).all()


def test_a_torn_last_line_is_dropped(tmp_path):
    p, _ = counted()
    full = eps_sweep(p, eps=EPS[:4], schemes=("central",), dtypes=("float64",), out=tmp_path)
    text = (tmp_path / "results.csv").read_text().splitlines(keepends=True)
    (tmp_path / "results.csv").write_text("".join(text[:-2]) + text[-2][:25])  # killed mid-write
    assert len(ResultStore(tmp_path, EPS_SCHEMA).read()) == 2
    same_results(eps_sweep(p, eps=EPS[:4], schemes=("central",), dtypes=("float64",), out=tmp_path, resume=True), full)


SLOW = """
import time
import numpy as np
from fastcheck.problems import smooth_cost_numpy, smooth_grad

def slow_cost(theta, c):
    time.sleep(0.004)
    return smooth_cost_numpy(theta, c)

def make():
    rng = np.random.default_rng(0)
    return slow_cost, rng.uniform(-1, 1, 4), smooth_grad, (rng.uniform(0.2, 1.0, 4),)
"""


def test_a_killed_sweep_process_resumes(tmp_path):
    from fastcheck.cli import main

    src = tmp_path / "slow.py"
    src.write_text(SLOW)
    spec = f"{src}:make"
    args = ["sweep", "eps", spec, "--eps", "1e0:1e-8:17", "--schemes", "forward,central,central4",
            "--out", str(tmp_path), "--name", "run", "--quiet", "--no-report"]
    results = tmp_path / "run" / "results.csv"
    proc = subprocess.Popen([sys.executable, "-m", "fastcheck", *args], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            if results.exists() and len(results.read_text().splitlines()) >= 1 + 3 * 6:
                break
            if proc.poll() is not None:
                pytest.fail(f"the sweep ended before it could be killed: {proc.stderr.read().decode()}")
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    n_done = len(ResultStore(tmp_path / "run", EPS_SCHEMA).read())
    assert 3 * 6 <= n_done < 3 * 34
    assert main(args + ["--resume"]) == 0
    full = eps_sweep(spec, eps=np.logspace(0, -8, 17), schemes=("forward", "central", "central4"))
    same_results(ResultStore(tmp_path / "run", EPS_SCHEMA).read(), full)


# -- progress ----------------------------------------------------------------------------------
def test_progress_plain_lines_and_quiet(capsys):
    buf = io.StringIO()
    with make_progress("plain", 4, "eps sweep", stream=buf) as bar:
        for _ in range(4):
            bar.advance(1, "x")
    lines = buf.getvalue().splitlines()
    assert lines[0] == "eps sweep: 4 point(s) to compute" and lines[-1].startswith("eps sweep: 4/4 (100%)")
    rich = io.StringIO()
    with make_progress("rich", 2, "size sweep", stream=rich) as bar:
        bar.advance(2)
    assert "size sweep" in rich.getvalue()
    p, _ = counted()
    eps_sweep(p, eps=EPS[:2], schemes=("central",), dtypes=("float64",), progress=False)
    eps_sweep(p, eps=EPS[:2], schemes=("central",), dtypes=("float64",), progress=None)  # not a TTY: plain
    err = capsys.readouterr().err
    assert err.count("point(s) to compute") == 1 and "eps sweep: 2/2 (100%)" in err


# -- size sweep ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def size_df():
    return size_sweep(["smooth:n=40", "tutorial"], threads=THREADS, repeat=2, sample=2, n_dirs=2)


def test_size_sweep_rows(size_df):
    df = size_df
    assert list(df.columns) == list(SIZE_SCHEMA)
    assert len(df) == 2 * 4 * len(THREADS)
    smooth_structured = df[(df["problem"] == "smooth:n=40") & (df["mode"] == "structured")]
    assert smooth_structured["note"].str.contains("no structure-aware kernel").all()
    assert smooth_structured["seconds"].isna().all()
    ran = df[df["verdict"] != ""]
    assert len(ran) == len(df) - len(smooth_structured)
    assert ran["passed"].all() and (ran["verdict"] == "great").all()
    np.testing.assert_allclose(ran["evals_per_s"] * ran["seconds"], ran["n_evals"], rtol=1e-9)
    assert (ran["peak_mem_mb"] >= 0).all()
    checked = ran.set_index(["problem", "mode"])["checked"].groupby(level=[0, 1]).first()
    assert checked["tutorial", "structured"] == 9 and checked["tutorial", "blackbox"] == 9
    assert checked["tutorial", "sampled"] == 2 * 2 and checked["smooth:n=40", "sampled"] == 2
    assert checked["tutorial", "directional"] == 2 * 2 and checked["smooth:n=40", "directional"] == 2
    assert set(ran.loc[ran["problem"] == "tutorial", "path"]) >= {"structured", "parallel"}


def test_size_sweep_budget_skips_with_a_note():
    df = size_sweep(["smooth:n=40"], modes=("blackbox", "sampled"), threads=(1,), repeat=1, budget=1e-9)
    blackbox = df[df["mode"] == "blackbox"].iloc[0]
    assert blackbox["note"].startswith("skipped: a full check would take about") and np.isnan(blackbox["seconds"])
    assert df[df["mode"] == "sampled"]["passed"].all()


def test_batch_check_names_the_broken_network():
    model, theta, X, y = tutorial_network()
    good = get_problem((model, theta, X, y), name="good")
    broken = get_problem((model.mutant("activation_derivative"), theta, X, y), name="broken")
    df = size_sweep([good, broken], modes=("structured",), threads=(1,), repeat=1)
    verdicts = df.set_index("problem")
    assert verdicts.loc["good", "passed"] and not verdicts.loc["broken", "passed"]
    assert verdicts.loc["broken", "verdict"] in ("suspect", "wrong")


# -- Dask -------------------------------------------------------------------------------------
DYING = """
import os
import numpy as np
from fastcheck.problems import smooth_cost_numpy, smooth_grad

FLAG = {flag!r}

def cost(theta, c):
    try:
        os.remove(FLAG)          # exactly one call anywhere wins this
    except FileNotFoundError:
        return smooth_cost_numpy(theta, c)
    os._exit(1)                  # the worker process dies mid-task

def make():
    rng = np.random.default_rng(1)
    return cost, rng.uniform(-1, 1, 5), smooth_grad, (rng.uniform(0.2, 1.0, 5),)
"""


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    from fastcheck.sweep.dask import local_client

    c = local_client(2)
    yield c
    cluster = c.cluster
    c.close()
    cluster.close()
    del distributed


def test_dask_gives_the_local_table(client):
    problems = ["smooth:n=6,jit=0", "tutorial-numpy"]
    eps = DEFAULT_EPS[::2]
    local = eps_sweep(problems, eps=eps, threads=1)
    remote = eps_sweep(problems, eps=eps, client=client, chunk=3)
    same_results(remote, local, ignore=("seconds",))
    sizes_local = size_sweep(["smooth:n=6,jit=0"], modes=("blackbox", "directional", "sampled"), threads=(1,), repeat=1)
    sizes_remote = size_sweep(["smooth:n=6,jit=0"], modes=("blackbox", "directional", "sampled"), threads=(1,),
                              repeat=1, client=client)
    same_results(sizes_remote, sizes_local)


def test_a_dying_worker_costs_only_its_points(client, tmp_path):
    flag = tmp_path / "die-once"
    src = tmp_path / "dying.py"
    src.write_text(DYING.format(flag=str(flag)))
    spec = f"{src}:make"
    eps = DEFAULT_EPS[::2]
    local = eps_sweep(spec, eps=eps, threads=1)
    flag.write_text("")
    remote = eps_sweep(spec, eps=eps, client=client, chunk=1, out=tmp_path / "out")
    assert not flag.exists()  # a worker did die
    same_results(remote, local, ignore=("seconds",))
    same_results(ResultStore(tmp_path / "out", EPS_SCHEMA).read(), local, ignore=("seconds",))


def test_dask_threads_beyond_the_workers_share_are_refused(client):
    from fastcheck.support.resources import available_cores

    share = max(1, available_cores() // 2)
    if share + 1 > numba.config.NUMBA_NUM_THREADS:
        pytest.skip("needs NUMBA_NUM_THREADS above the workers' share")
    with pytest.raises(GridError, match="exceeds"):
        eps_sweep("smooth:n=3,jit=0", eps=EPS[:2], threads=share + 1, client=client)


def test_remote_rows_report_the_workers_thread_share(client):
    df = eps_sweep("smooth:n=6", eps=EPS[:2], schemes=("central",), dtypes=("float64",), client=client)
    from fastcheck.support.resources import available_cores

    assert (df["threads"] == max(1, min(available_cores() // 2, numba.config.NUMBA_NUM_THREADS))).all()
    assert os.environ.get("NUMBA_NUM_THREADS") is None or (df["threads"] <= int(os.environ["NUMBA_NUM_THREADS"])).all()


def test_cli_scheduler_and_workers_options(client, tmp_path):
    from fastcheck.cli import main

    argv = ["sweep", "eps", "smooth:n=4,jit=0", "--eps", "1e-1:1e-7:7", "--dtypes", "float64", "--out", str(tmp_path),
            "--quiet", "--no-report"]
    assert main(argv + ["--name", "remote", "--scheduler", client.scheduler.address]) == 0
    assert main(argv + ["--name", "local-cluster", "--dask-workers", "1"]) == 0
    assert main(argv + ["--name", "in-process"]) == 0
    tables = [ResultStore(tmp_path / n, EPS_SCHEMA).read() for n in ("remote", "local-cluster", "in-process")]
    for t in tables[1:]:
        same_results(t, tables[0], ignore=("seconds", "threads"))
    assert len(tables[0]) == 4 * 7


def test_size_entries_given_as_layer_sizes():
    df = size_sweep([(4, 3, 2), "5-3-2"], modes=("sampled",), threads=(1,), repeat=1, batch=6, activation="tanh")
    assert df["problem"].tolist() == ["mlp:4-3-2", "mlp:5-3-2"]
    assert df["n_params"].tolist() == [4 * 3 + 3 + 3 * 2 + 2, 5 * 3 + 3 + 3 * 2 + 2]
    assert df.attrs["mlp"] == {"batch": 6, "activation": "tanh", "loss": "sse"} and df["passed"].all()


@pytest.mark.parametrize("fixed, per_coord, n", [(0.05, 2e-6, 400_000), (0.002, 1e-3, 5_000), (0.01, 1e-6, 1000)])
def test_full_check_estimate_from_probes(fixed, per_coord, n):
    from fastcheck.sweep.measure import estimate_full as _estimate_full

    spent = []

    def call(threads, coords):  # a check whose time is fixed + per_coord·m, with one noisy first call
        t = fixed + per_coord * len(coords) + (0.03 if not spent else 0.0)
        spent.append(t)
        time.sleep(t)

    est = _estimate_full(call, 1, n)
    assert est == pytest.approx(fixed + per_coord * n, rel=0.35)
    assert sum(spent) < 0.5 * (fixed + per_coord * n) + 0.5  # probing costs a fraction of the full check
