"""Report files and the sweep/report command line."""

import numba
import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from fastcheck.cli import main
from fastcheck.report import load_results, markdown_table, write_report
from fastcheck.sweep import eps_sweep, size_sweep

from .strictjson import loads as strict_json

THREADS = "1,2" if numba.config.NUMBA_NUM_THREADS >= 2 else "1"


def assert_nonempty_png(path):
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 200
    assert img[..., :3].std() > 0.02  # not a blank canvas


@pytest.fixture(scope="module")
def eps_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("reports")
    rc = main(["sweep", "eps", "tutorial-numpy", "smooth:n=4,jit=0", "--eps", "1e0:1e-12:25", "--out", str(d),
               "--name", "eps-demo", "--quiet"])
    assert rc == 0
    return d / "eps-demo"


@pytest.fixture(scope="module")
def size_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("reports")
    rc = main(["sweep", "size", "tutorial", "mlp:6-5-2,batch=8", "--modes", "structured,blackbox,directional,sampled",
               "--threads", THREADS, "--repeat", "1", "--sample", "2", "--out", str(d), "--name", "size-demo", "--quiet"])
    assert rc == 0
    return d / "size-demo"


def test_eps_report_files(eps_dir):
    for name in ("results.csv", "results.parquet", "fits.csv", "eps_error.png", "README.md", "sweep.json"):
        assert (eps_dir / name).exists(), name
    csv = pd.read_csv(eps_dir / "results.csv")
    pq = pd.read_parquet(eps_dir / "results.parquet")
    assert len(csv) == len(pq) == 2 * 4 * 2 * 25
    np.testing.assert_array_equal(csv["max_abs_err"].to_numpy(), pq["max_abs_err"].to_numpy())
    assert list(csv.columns) == list(pq.columns)
    fits = pd.read_csv(eps_dir / "fits.csv")
    assert len(fits) == 2 * 4 * 2 and "truncation_slope" in fits
    assert_nonempty_png(eps_dir / "eps_error.png")
    readme = (eps_dir / "README.md").read_text()
    assert "![error vs eps](eps_error.png)" in readme
    assert "| problem | scheme | dtype | order | truncation slope |" in readme
    assert "fastcheck sweep eps tutorial-numpy" in readme  # the command that made it
    assert strict_json((eps_dir / "sweep.json").read_text())["kind"] == "eps"


def test_size_report_files(size_dir):
    for name in ("results.csv", "results.parquet", "time_vs_params.png", "speedup_vs_threads.png", "README.md"):
        assert (size_dir / name).exists(), name
    df = pd.read_parquet(size_dir / "results.parquet")
    assert set(df["mode"]) == {"structured", "blackbox", "directional", "sampled"}
    assert df["passed"].all()
    assert_nonempty_png(size_dir / "time_vs_params.png")
    assert_nonempty_png(size_dir / "speedup_vs_threads.png")
    readme = (size_dir / "README.md").read_text()
    assert "![time vs n_params](time_vs_params.png)" in readme and "Every check that ran passed." in readme


def test_report_command_rewrites_from_the_results_file(eps_dir, capsys):
    (eps_dir / "eps_error.png").unlink()
    (eps_dir / "results.parquet").unlink()
    assert main(["report", str(eps_dir), "--title", "Again"]) == 0
    assert_nonempty_png(eps_dir / "eps_error.png")
    assert (eps_dir / "README.md").read_text().startswith("# Again")
    assert str(eps_dir / "results.parquet") in capsys.readouterr().out


def test_report_of_an_interrupted_sweep(tmp_path):
    from fastcheck.sweep.schema import EPS_SCHEMA
    from fastcheck.sweep.store import ResultStore

    eps_sweep("smooth:n=3,jit=0", eps=np.logspace(0, -8, 9), schemes=("forward", "central"),
              dtypes=("float64",), out=tmp_path)
    path = tmp_path / "results.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:7]) + lines[7][:10])  # killed: 6 rows and a torn line
    assert len(ResultStore(tmp_path, EPS_SCHEMA).read()) == 6
    written = write_report(tmp_path)
    assert tmp_path / "eps_error.png" in written
    assert len(pd.read_parquet(tmp_path / "results.parquet")) == 6


def test_write_report_from_a_table_does_not_touch_it(tmp_path):
    df = size_sweep(["smooth:n=5,jit=0"], modes=("blackbox", "directional"), threads=(1,), repeat=1)
    before = df.copy()
    write_report(tmp_path, df)
    pd.testing.assert_frame_equal(df, before)
    assert df.attrs.get("kind") == "size"
    table, meta = load_results(tmp_path)
    assert meta["kind"] == "size" and len(table) == 2


def test_markdown_table():
    text = markdown_table(pd.DataFrame({"a": [1.23456, np.nan], "b": ["x|y", "z"]}), {"a": ".2f"})
    assert text.splitlines() == ["| a | b |", "|---|---|", "| 1.23 | x\\|y |", "| – | z |"]


# -- the command line: errors, exit codes, resume ----------------------------------------------
@pytest.mark.parametrize(
    "argv, message",
    [
        (["sweep", "eps", "smooth", "--eps", "1e-1,0"], "eps must be positive and finite"),
        (["sweep", "eps", "smooth", "--eps", "1:2"], "START:STOP:NUM"),
        (["sweep", "eps", "smooth", "--eps", "1e0:1e-3:0"], "at least one point"),
        (["sweep", "eps", "smooth", "--schemes", "central,wrong"], "unknown scheme 'wrong'"),
        (["sweep", "eps", "smooth", "--dtypes", "float16"], "unknown dtype 'float16'"),
        (["sweep", "eps", "nothing.py:make"], "problem file 'nothing.py' does not exist"),
        (["sweep", "eps", "unknown-problem"], "unknown problem 'unknown-problem'"),
        (["sweep", "size", "tutorial", "--modes", "turbo"], "unknown mode 'turbo'"),
        (["sweep", "size", "tutorial", "--threads", "0"], "threads must be integers"),
        (["sweep", "eps", "smooth", "--dask-workers", "0"], "--dask-workers must be a positive integer"),
        (["sweep", "eps", "smooth", "--workers", "2"], "--dask-workers N starts a local cluster"),
        (["sweep", "eps", "smooth", "--scheduler", "localhost"], "tcp://HOST:PORT"),
        (["report", "/no/such/dir"], "is not a directory"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    out = ["--out", str(tmp_path)] if argv[0] == "sweep" else []
    assert main(argv + out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not any(tmp_path.iterdir())  # nothing was started


def test_existing_results_need_resume_or_force(tmp_path, capsys):
    argv = ["sweep", "eps", "cube", "--eps", "1e-1:1e-6:6", "--schemes", "forward,central", "--dtypes", "float64",
            "--out", str(tmp_path), "--quiet", "--no-report"]
    assert main(argv) == 0
    assert main(argv) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(argv + ["--resume"]) == 0
    assert main(argv + ["--force"]) == 0
    assert (tmp_path / "eps-cube" / "results.csv").exists()
    assert not (tmp_path / "eps-cube" / "README.md").exists()  # --no-report


BROKEN = """
from fastcheck.models import tutorial_network


def make():
    model, theta, X, y = tutorial_network()
    return model.mutant("activation_derivative"), theta, X, y
"""


def test_batch_check_exit_code(tmp_path):
    src = tmp_path / "broken.py"
    src.write_text(BROKEN)
    base = ["sweep", "size", "--modes", "structured", "--threads", "1", "--repeat", "1", "--out", str(tmp_path),
            "--quiet", "--no-report"]
    assert main(base[:2] + ["tutorial"] + base[2:] + ["--name", "good"]) == 0
    assert main(base[:2] + ["tutorial", f"{src}:make"] + base[2:] + ["--name", "mixed"]) == 1
    table = pd.read_csv(tmp_path / "mixed" / "results.csv")
    assert table.set_index("problem")["passed"].to_dict() == {"tutorial": True, f"{src}:make": False}
