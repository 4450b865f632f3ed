"""Nothing lost, nothing faked: each test reproduces one way results could be lost or a
check could read as a pass without having been made, and shows it no longer can.

Numbers in test names refer to the items of the robustness issue ("Nothing lost,
nothing faked"); items 7, 8 and 10 (verdicts against per-coordinate error bars)
are tested with that work in tests/checks/test_gradient.py.
"""
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numba import njit

import fastcheck as fc
from fastcheck.cli import main
from fastcheck.errors import CostError, DirectoryBusyError, ResourceError, ResumeError
from fastcheck.report import write_report
from fastcheck.support.files import LOCK_NAME, atomic_write, directory_lock
from fastcheck.sweep import eps_sweep, size_sweep
from fastcheck.sweep.schema import EPS_SCHEMA
from fastcheck.sweep.store import ResultStore
from tests.strictjson import loads as strict_json

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
CHEAP = "smooth:n=3,jit=0"  # a NumPy cost on the plain loop: nothing to compile


def fastcheck_cli(*argv, cwd=None, limit_kb=None, timeout=300):
    """Run the console program in its own process (optionally with ``ulimit -f``: a disk that fills up)."""
    cmd = [sys.executable, "-m", "fastcheck", *map(str, argv)]
    env = ENV
    if limit_kb is not None:
        cmd = ["bash", "-c", f'ulimit -f {int(limit_kb)} && exec "$@"', "bash", *cmd]
        # the interpreter's own bytecode cache stays out of the full disk: CPython installs a .pyc that the
        # limit cut short as it is (a single raw write), and every later import of that module then fails
        env = {**ENV, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def snapshot(directory: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file() and p.name != LOCK_NAME}


def leftovers(directory: Path) -> list:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture(scope="module")
def cheap_sweep(tmp_path_factory):
    """A finished eps sweep of 232 rows (29 ε × 4 schemes × 2 dtypes) with its report."""
    d = tmp_path_factory.mktemp("cheap") / "eps-cheap"
    df = eps_sweep(CHEAP, out=d)
    assert len(df) == 232
    write_report(d)
    return d, df


def copy_of(directory: Path, dest: Path) -> Path:
    dest.mkdir()
    for name, data in snapshot(directory).items():
        (dest / name).write_bytes(data)
    return dest


# ====================================================================== 1. one writer per directory
HELD = """
import os
import time
import numpy as np
from fastcheck.problems import smooth_cost_numpy, smooth_grad

HOLD = {hold!r}

def held_cost(theta, c):
    while os.path.exists(HOLD):  # the test lets the sweep go on by removing this file
        time.sleep(0.01)
    return smooth_cost_numpy(theta, c)

def make():
    rng = np.random.default_rng(0)
    return held_cost, rng.uniform(-1, 1, 4), smooth_grad, (rng.uniform(0.2, 1.0, 4),)
"""


def test_1_a_second_sweep_on_the_same_directory_is_refused_and_no_rows_are_lost(tmp_path):
    hold = tmp_path / "hold"
    hold.touch()
    src = tmp_path / "held.py"
    src.write_text(HELD.format(hold=str(hold)))
    common = ["sweep", "eps", f"{src}:make", "--name", "lost", "--out", tmp_path, "--schemes", "central,forward",
              "--dtypes", "float64", "--quiet", "--no-report"]
    out = tmp_path / "lost"
    a = subprocess.Popen([sys.executable, "-m", "fastcheck", *map(str, common), "--eps", "1e0:1e-8:9"],
                         env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (out / "results.csv").exists():  # A holds the folder and waits at its first cost
            assert a.poll() is None, a.stderr.read()
            assert time.time() < deadline
            time.sleep(0.01)
        b = fastcheck_cli(*common, "--eps", "7e-3,7e-5", "--resume")
        assert a.poll() is None, "the first sweep should still be running"
    finally:
        hold.unlink()
        a_out, a_err = a.communicate(timeout=300)
    assert b.returncode == 2
    assert "being written by another fastcheck process" in b.stderr and f"pid {a.pid}" in b.stderr
    assert len(b.stderr.strip().splitlines()) == 1
    assert a.returncode == 0, a_err
    rows = ResultStore(out, EPS_SCHEMA).read()
    assert len(rows) == 2 * 9  # all of A's rows
    # once A is done, B runs; its grid differs in eps only (a grid axis), so its points join A's
    b = fastcheck_cli(*common, "--eps", "7e-3,7e-5", "--resume")
    assert b.returncode == 0, b.stderr
    rows = ResultStore(out, EPS_SCHEMA).read()
    assert len(rows) == 2 * 9 + 2 * 2 and {7e-3, 7e-5} <= set(rows["eps"])
    assert leftovers(out) == []


def test_1_the_directory_lock_refuses_another_process_and_is_reentrant(tmp_path):
    d = tmp_path / "held"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from fastcheck.support.files import directory_lock\n"
         f"with directory_lock({str(d)!r}):\n    print('held', flush=True); time.sleep(60)"],
        env=ENV, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DirectoryBusyError, match=f"pid {holder.pid}"):
            eps_sweep(CHEAP, eps=[1e-3], schemes=("central",), dtypes=("float64",), out=d)
        with pytest.raises(DirectoryBusyError):
            write_report(d)
    finally:
        holder.kill()
        holder.wait()
    with directory_lock(d), directory_lock(d):  # the same process may nest it (sweep, then its report)
        df = eps_sweep(CHEAP, eps=[1e-3], schemes=("central",), dtypes=("float64",), out=d)
        assert len(df) == 1
    assert not (d / LOCK_NAME).exists()  # released, and no lock file left behind
    with directory_lock(d):  # anyone can take it now
        assert (d / LOCK_NAME).exists()
    assert not (d / LOCK_NAME).exists()


# ====================================================================== 2. atomic report files
def test_2_report_on_a_full_disk_keeps_every_previous_file(cheap_sweep, tmp_path):
    d = copy_of(cheap_sweep[0], tmp_path / "full")
    (d / "results.parquet").unlink()  # as after an interrupted sweep: the report has everything to write
    before = snapshot(d)
    r = fastcheck_cli("report", d, limit_kb=8)  # a disk with 8 KB left
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert snapshot(d) == before and leftovers(d) == []
    # the README, plots and fits are written after the parquet: fill the disk there instead
    r = fastcheck_cli("report", d, limit_kb=40)
    assert r.returncode == 2
    after = snapshot(d)
    assert after["results.csv"] == before["results.csv"] and after["README.md"] == before["README.md"]
    assert leftovers(d) == []
    if "results.parquet" in after:  # whatever was written is complete
        assert len(pd.read_parquet(d / "results.parquet")) == 232
    r = fastcheck_cli("report", d)
    assert r.returncode == 0, r.stderr
    assert len(pd.read_parquet(d / "results.parquet")) == 232
    assert (d / "results.csv").read_bytes() == before["results.csv"]


def test_2_report_never_rewrites_results_csv(cheap_sweep, tmp_path):
    d = copy_of(cheap_sweep[0], tmp_path / "again")
    stat = (d / "results.csv").stat()
    assert main(["report", str(d)]) == 0
    after = (d / "results.csv").stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def test_2_a_sweep_on_a_full_disk_keeps_its_finished_rows(cheap_sweep, tmp_path):
    d = copy_of(cheap_sweep[0], tmp_path / "grow")
    size_kb = (d / "results.csv").stat().st_size // 1024
    old = ResultStore(d, EPS_SCHEMA).read()
    # resume with more steps on a disk that fills up while the new rows are appended
    r = fastcheck_cli("sweep", "eps", CHEAP, "--out", tmp_path, "--name", "grow", "--resume", "--quiet",
                      "--eps", "1e0:1e-14:57", limit_kb=size_kb + 6)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    kept = ResultStore(d, EPS_SCHEMA).read()
    assert len(kept) >= len(old)
    pd.testing.assert_frame_equal(kept.iloc[: len(old)], old)  # nothing finished was lost
    assert leftovers(d) == []
    # and the sweep completes afterwards, to the table of an uninterrupted run
    r = fastcheck_cli("sweep", "eps", CHEAP, "--out", tmp_path, "--name", "grow", "--resume", "--quiet",
                      "--eps", "1e0:1e-14:57")
    assert r.returncode == 0, r.stderr
    full = eps_sweep(CHEAP, eps=np.logspace(0, -14, 57))
    done = ResultStore(d, EPS_SCHEMA).read()
    cols = ["problem", "scheme", "dtype", "eps", "difference", "max_abs_err", "note"]
    merged = full[cols].merge(done[cols], on=["problem", "scheme", "dtype", "eps"], suffixes=("", "_file"))
    assert len(merged) == len(full)
    np.testing.assert_array_equal(merged["max_abs_err"], merged["max_abs_err_file"])


def test_2_a_write_that_fails_midway_leaves_the_previous_file(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("complete\n")
    with pytest.raises(OSError, match="disk full"):
        with atomic_write(target) as fh:
            fh.write("half of the new")
            raise OSError("disk full")
    assert target.read_text() == "complete\n" and leftovers(tmp_path) == []


def test_2_a_truncated_sweep_json_is_an_error_naming_the_file(cheap_sweep, tmp_path, capsys):
    d = copy_of(cheap_sweep[0], tmp_path / "trunc")
    text = (d / "sweep.json").read_text()
    (d / "sweep.json").write_text(text[: len(text) // 2])
    assert main(["report", str(d)]) == 2
    err = capsys.readouterr().err
    assert f"{d / 'sweep.json'} is not valid JSON" in err
    assert main(["sweep", "eps", CHEAP, "--out", str(tmp_path), "--name", "trunc", "--resume", "--quiet"]) == 2
    assert "sweep.json is not valid JSON" in capsys.readouterr().err


# ====================================================================== 3. resume refuses to mix
def test_3_resume_refuses_other_size_sweep_options(tmp_path, capsys):
    base = ["sweep", "size", "3-2-1", "--modes", "sampled", "--threads", "1", "--repeat", "1", "--out", str(tmp_path),
            "--name", "s", "--quiet", "--no-report"]
    assert main(base) == 0
    before = snapshot(tmp_path / "s")
    capsys.readouterr()
    assert main(base + ["--resume", "--batch", "4", "--activation", "relu", "--loss", "mse"]) == 2
    err = capsys.readouterr().err
    for option in ("batch: 64 then, 4 now", "activation: 'sigmoid' then, 'relu' now", "loss: 'sse' then, 'mse' now"):
        assert option in err
    assert snapshot(tmp_path / "s") == before  # sweep.json does not claim the new options
    assert main(base + ["--resume", "--sample", "3"]) == 2
    assert "sample: 8 then, 3 now" in capsys.readouterr().err


PROBLEM_FILE = """
import numpy as np

SCALE = {scale}

def cost(t):
    return SCALE * np.sum(np.sin(t))

def grad(t):
    return SCALE * np.cos(t)

def make():
    return cost, np.linspace(-1, 1, 4), grad
"""


def test_3_resume_refuses_a_changed_problem_file(tmp_path):
    src = tmp_path / "prob.py"
    src.write_text(PROBLEM_FILE.format(scale=1.0))
    kw = dict(eps=[1e-2, 1e-4], schemes=("central",), dtypes=("float64",), out=tmp_path / "out")
    eps_sweep(f"{src}:make", **kw)
    src.write_text(PROBLEM_FILE.format(scale=2.0))
    from fastcheck.problems import registry

    registry._from_string.cache_clear()  # a new process would read the file afresh
    with pytest.raises(ResumeError, match="prob.py:make' changed.*file_sha1"):
        eps_sweep(f"{src}:make", resume=True, **kw)
    eps_sweep(f"{src}:make", overwrite=True, **kw)  # starting over is allowed


def test_3_resume_without_sweep_json_refuses(cheap_sweep, tmp_path):
    d = copy_of(cheap_sweep[0], tmp_path / "nometa")
    (d / "sweep.json").unlink()
    with pytest.raises(ResumeError, match="sweep.json is missing"):
        eps_sweep(CHEAP, sample=3, out=d, resume=True)


def test_3_resume_refuses_other_eps_options(cheap_sweep, tmp_path):
    d = copy_of(cheap_sweep[0], tmp_path / "opts")
    with pytest.raises(ResumeError, match="sample: None then, 1 now"):
        eps_sweep(CHEAP, sample=1, out=d, resume=True)


# ====================================================================== 4. failed sweeps leave no blocker
def test_4_a_failed_sweep_leaves_nothing_that_blocks_a_rerun(tmp_path):
    def cost(t):
        return float(np.sum(t**2))

    def bad_grad(t):
        raise ValueError("the user's gradient fails")

    out = tmp_path / "failed"
    with pytest.raises(ValueError, match="gradient fails"):
        eps_sweep((cost, np.ones(3), bad_grad), eps=[1e-3], schemes=("central",), dtypes=("float64",), out=out)
    assert not out.exists() or not (out / "results.csv").exists()
    df = eps_sweep((cost, np.ones(3), lambda t: 2 * t), eps=[1e-3], schemes=("central",), dtypes=("float64",), out=out)
    assert len(df) == 1


def test_4_a_header_only_results_file_does_not_block(tmp_path):
    tmp_path.joinpath("results.csv").write_text(",".join(EPS_SCHEMA) + "\n")
    df = eps_sweep(CHEAP, eps=[1e-3], schemes=("central",), dtypes=("float64",), out=tmp_path)
    assert len(df) == 1 and len(ResultStore(tmp_path, EPS_SCHEMA).read()) == 1


# ====================================================================== 5. sys.exit in user code
EXITING = {
    "import": "import sys\nsys.exit(0)\n",
    "make": "import sys\n\ndef make():\n    sys.exit(0)\n",
    "cost": "import sys\nimport numpy as np\n\ndef cost(t):\n    sys.exit(0)\n\ndef make():\n"
            "    return cost, np.ones(3), lambda t: 2 * t\n",
}


@pytest.mark.parametrize("where", list(EXITING))
def test_5_sys_exit_in_user_code_is_an_error_not_a_pass(tmp_path, capsys, where):
    src = tmp_path / f"exits_in_{where}.py"
    src.write_text(EXITING[where])
    assert main(["check", f"{src}:make"]) == 2
    err = capsys.readouterr().err
    assert "sys.exit(0)" in err and "nothing was checked" in err and len(err.strip().splitlines()) == 1
    assert main(["sweep", "eps", f"{src}:make", "--out", str(tmp_path), "--eps", "1e-3", "--quiet"]) == 2
    assert "sys.exit(0)" in capsys.readouterr().err


def test_5_the_process_exit_code_is_not_zero(tmp_path):
    src = tmp_path / "exits.py"
    src.write_text(EXITING["make"])
    r = fastcheck_cli("check", f"{src}:make")
    assert r.returncode == 2 and "sys.exit(0)" in r.stderr and r.stdout == ""


# ====================================================================== 6. user exceptions keep their message
@njit
def boom(t):
    # beyond 0.55, or moved off the real axis by a complex step: .real/.imag let one code serve both
    if t[3].real > 0.55 or t[3].imag != 0:
        raise ValueError("boom at coordinate 3")
    return np.sum(t * t)


def boom_py(t):
    if t[3] > 0.55:
        raise ValueError("boom at coordinate 3")
    return np.sum(t * t)


THETA6 = np.linspace(0.0, 0.5, 6)
ENTRY_POINTS = {
    "check_gradient": lambda: fc.check_gradient(boom, THETA6, 2 * THETA6, eps=0.3),
    "check_gradient threads=1": lambda: fc.check_gradient(boom, THETA6, 2 * THETA6, eps=0.3, threads=1),
    "numerical_gradient": lambda: fc.numerical_gradient(boom, THETA6, eps=0.3),
    "check_directional": lambda: fc.check_directional(boom, THETA6, 2 * THETA6, eps=0.6, directions=4),
    "complex step": lambda: fc.check_gradient(boom, THETA6, 2 * THETA6, scheme="complex"),
    "auto-jit": lambda: fc.check_gradient(boom_py, THETA6, 2 * THETA6, eps=0.3, jit=True),
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_6_an_exception_in_a_jitted_cost_keeps_its_type_and_message(entry):
    with pytest.raises(ValueError, match="^boom at coordinate 3$"):
        ENTRY_POINTS[entry]()


@njit
def positive_first(t):
    if t[0] > 0.5:
        raise ValueError("theta[0] must stay below 0.5")
    return np.sum(t * t)


def test_6_compiling_the_kernel_visits_no_point_the_check_would_not():
    # the kernel is compiled on one coordinate before the check: at θ itself, not θ + 1·e0
    r = fc.check_gradient(positive_first, THETA6, 2 * THETA6)
    assert r.passed and r.path == "parallel"


def test_6_complex_step_on_a_jitted_cost_without_complex_support_is_one_line():
    @njit
    def positive_part(t):
        s = 0.0
        for x in t:
            if x > 0:  # no ordering of complex numbers: Numba cannot type this for complex θ
                s += x * x
        return s

    with pytest.raises(CostError, match="accepts complex theta") as info:
        fc.check_gradient(positive_part, THETA6 + 0.1, 2 * (THETA6 + 0.1), scheme="complex")
    assert "\n" not in str(info.value) and "complex128" in str(info.value)


# ====================================================================== 9. strict JSON
NAN_FILE = """
import numpy as np

def cost(t):
    return float(np.sum(np.log(t)))

def make():
    return cost, np.array([0.05, 1.0, 2.0]), lambda t: 1 / t
"""


def test_9_json_output_is_strict_when_a_cost_is_not_finite(tmp_path, capsys):
    src = tmp_path / "nan_cost.py"
    src.write_text(NAN_FILE)
    with np.errstate(all="ignore"):
        code = main(["check", f"{src}:make", "--eps", "0.1", "--json"])
    out = capsys.readouterr().out
    assert code == 3  # a non-finite cost leaves coordinates unread: inconclusive (exit 3), never a pass
    assert "NaN" not in out and "Infinity" not in out
    result = strict_json(out)
    assert result["n_nonfinite"] == 1 and result["nonfinite"] == [0]
    worst = {row["index"]: row for row in result["worst"]}
    assert worst["[0]"]["numerical"] is None  # NaN reads as null


# ====================================================================== 11. complex step and in-place costs
def test_11_complex_step_with_a_step_that_underflows_is_refused():
    t32 = np.linspace(0.1, 1.0, 5).astype(np.float32)
    with pytest.warns(fc.PrecisionWarning), pytest.raises(ValueError, match="eps is too small for the complex step"):
        fc.check_gradient(lambda t: np.sum(t**3), t32, 3 * t32.astype(np.float64) ** 2, scheme="complex", eps=1e-50)
    # the sweep records it as a skipped point, like the real schemes below resolution
    df = eps_sweep("square", eps=[1e-50, 1e-20], schemes=("complex",), dtypes=("float32",))
    assert df["note"].iloc[0].startswith("skipped: eps below float32") and np.isnan(df["difference"].iloc[0])
    assert df["difference"].iloc[1] < 1e-6


@pytest.mark.parametrize("drop", [lambda t: np.abs(np.sum(t * t)), lambda t: float(np.sum(t * t).real)],
                         ids=["np.abs", "float"])
def test_11_complex_step_on_a_cost_that_drops_the_imaginary_part_says_so(drop):
    with pytest.raises(CostError, match="complex-safe cost.*drops the imaginary part"):
        fc.check_gradient(drop, THETA6 + 1, 2 * (THETA6 + 1), scheme="complex", jit=False)


def test_11_a_cost_that_modifies_its_input_is_diagnosed():
    def clobbering(t):
        t[0] = 0.0  # the user's bug: writes into the array it was given
        return np.sum(t * t)

    theta = THETA6 + 1
    kept = theta.copy()
    with pytest.raises(CostError, match=r"modified its theta argument in place.*first \[0\]"):
        fc.check_gradient(clobbering, theta, 2 * theta, jit=False)
    np.testing.assert_array_equal(theta, kept)  # and never the caller's array


# ====================================================================== 12. planted symlinks
def test_12_writes_never_follow_planted_symlinks(cheap_sweep, tmp_path):
    d = copy_of(cheap_sweep[0], tmp_path / "planted")
    victims = {}
    for name in ("results.csv.tmp", "sweep.json.tmp", "README.md", "fits.csv", "eps_error.png", "results.parquet"):
        victim = tmp_path / f"victim-{name}"
        victim.write_text("precious\n")
        (d / name).unlink(missing_ok=True)
        (d / name).symlink_to(victim)
        victims[name] = victim
    assert main(["sweep", "eps", CHEAP, "--out", str(tmp_path), "--name", "planted", "--resume", "--quiet"]) == 0
    for victim in victims.values():
        assert victim.read_text() == "precious\n"
    for name in ("README.md", "fits.csv", "eps_error.png", "results.parquet"):
        assert not (d / name).is_symlink() and (d / name).stat().st_size > 0
    # a planted lock file is not followed either
    (d / LOCK_NAME).unlink(missing_ok=True)
    (d / LOCK_NAME).symlink_to(victims["README.md"])
    with pytest.raises(DirectoryBusyError, match="cannot open the lock file"):
        write_report(d)
    assert victims["README.md"].read_text() == "precious\n"


# ====================================================================== 13. size guard
EIGHT_GB = 8 << 30  # the machine the tests pretend to run on (a CI runner may have more)


def test_13_a_huge_eps_grid_is_refused_before_allocating(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("fastcheck.support.resources.available_memory", lambda: EIGHT_GB)
    tracemalloc.start()
    try:
        code = main(["sweep", "eps", "square", "--eps", "1:1e-14:100000000", "--out", str(tmp_path), "--quiet"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = capsys.readouterr().err
    assert code == 2 and "800,000,000 points needs about" in err and "--force" in err
    assert peak < 20e6  # the 10^8 steps were never made
    assert not (tmp_path / "eps-square").exists()


def test_13_a_huge_model_is_refused_and_force_insists(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("fastcheck.support.resources.available_memory", lambda: EIGHT_GB)
    assert main(["check", "--sizes", "20000,20000"]) == 2
    err = capsys.readouterr().err
    assert "MLP 20000,20000 (400,020,000 parameters) needs about" in err and "8.0 GB available" in err
    with pytest.raises(ResourceError, match="400,020,000 parameters"):
        size_sweep(["20000-20000"], threads=(1,))
    # on a machine with 1 KB to spare, a small network is refused too, unless --force insists
    monkeypatch.setattr("fastcheck.support.resources.available_memory", lambda: 1 << 10)
    small = ["check", "--sizes", "30,20,5", "--batch", "4"]
    assert main(small) == 2 and "needs about" in capsys.readouterr().err
    assert main(small + ["--force"]) == 0


# ====================================================================== 14. minor
def test_14_a_problem_file_imports_modules_beside_it(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "helper_beside.py").write_text("import numpy as np\n\ndef cost(t):\n    return np.sum(t ** 3)\n")
    (pkg / "prob.py").write_text(
        "import numpy as np\nfrom helper_beside import cost\n\ndef make():\n"
        "    return cost, np.array([1.0, 2.0]), lambda t: 3 * t ** 2\n")
    df = eps_sweep(f"{pkg / 'prob.py'}:make", eps=[1e-4], schemes=("central",), dtypes=("float64",))
    assert df["difference"].iloc[0] < 1e-6
    assert str(pkg) not in sys.path  # the folder was on the path only while the file imported


@pytest.mark.parametrize("call", [
    lambda: fc.check_gradient(lambda t: np.sum(t * t), np.ones(3), 2 * np.ones(3), threads=0, jit=False),
    lambda: fc.numerical_gradient(lambda t: np.sum(t * t), np.ones(3), threads=0),
    lambda: fc.check_directional(lambda t: np.sum(t * t), np.ones(3), 2 * np.ones(3), threads=0),
    lambda: fc.check_gradient(lambda t: np.sum(t * t), np.ones(3), 2 * np.ones(3), threads=True),
], ids=["loop", "numerical_gradient", "directional", "bool"])
def test_14_threads_zero_is_refused_on_every_path(call):
    with pytest.raises(ValueError, match="threads must be between 1 and"):
        call()


def test_14_threads_zero_is_refused_by_check_model():
    from fastcheck.models import MLP

    model = MLP([3, 2, 1])
    X, y = model.sample_data(4)
    with pytest.raises(ValueError, match="threads must be between 1 and"):
        fc.check_model(model, model.init(0), X, y, threads=0)


def test_14_repeated_coords_are_refused():
    theta = np.ones(7)
    with pytest.raises(ValueError, match=r"coords repeats \[2\]"):
        fc.check_gradient(lambda t: np.sum(t * t), theta, 2 * theta, coords=[0, 2, 2, 5])


def test_14_big_endian_theta_is_converted():
    native = np.linspace(-1, 1, 6)
    big = native.astype(">f8")
    kept = big.copy()
    r = fc.check_gradient(lambda t: np.sum(np.sin(t)), big, np.cos(native), jit=False)
    ref = fc.check_gradient(lambda t: np.sum(np.sin(t)), native, np.cos(native), jit=False)
    assert r.passed and r.difference == ref.difference
    np.testing.assert_array_equal(r.numerical, ref.numerical)
    assert big.dtype == kept.dtype and np.array_equal(big, kept)


def test_14_a_tampered_duplicate_row_is_refused_on_resume(cheap_sweep, tmp_path):
    d = copy_of(cheap_sweep[0], tmp_path / "tampered")
    text = (d / "results.csv").read_text()
    row = ResultStore(d, EPS_SCHEMA).read().iloc[[5]]
    tampered = row.assign(difference=1e-300)  # a copy of row 5 claiming a perfect result
    (d / "results.csv").write_text(text + tampered.to_csv(index=False, header=False))
    with pytest.raises(ResumeError, match="different rows for the same point"):
        eps_sweep(CHEAP, out=d, resume=True)
    # an exact repeat of a row is harmless: it is dropped
    (d / "results.csv").write_text(text + row.to_csv(index=False, header=False))
    df = eps_sweep(CHEAP, out=d, resume=True)
    assert len(df) == 232 and len(ResultStore(d, EPS_SCHEMA).read()) == 232
