"""Hostile and careless inputs: each test crafts one and shows it is refused clearly or made harmless.

Numbers in test names refer to the items of the issue "The pool computes what the loop computes, or it
does not run; and 24 more ways to be wrong, hang or leak, closed" (items 12-18: thresholds, user code that
exits or raises BaseExceptions, mutants that cannot show, --json with printing user code, report files that
are not regular, report injection, names that break writing, plotting or the terminal).  The command line
runs in process (``main``) except where a real closed pipe is needed.
"""
import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from markdown_it import MarkdownIt

import fastcheck as fc
from fastcheck.cli import main
from fastcheck.cli.render import Terminal
from fastcheck.errors import SweepFileError
from fastcheck.models import MLP, MUTANTS
from fastcheck.report import markdown_table, write_report
from fastcheck.support.escape import csv_cell, csv_uncell, mathtext_plain, md_code_block, md_text
from fastcheck.support.files import read_bounded
from fastcheck.sweep import eps_sweep
from fastcheck.sweep.schema import EPS_SCHEMA
from fastcheck.sweep.store import ResultStore

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def user_file(tmp_path, text, name="net.py"):
    path = tmp_path / name
    path.write_text(text)
    return path


PLAIN = """
import numpy as np

def cost(t):
    return float(np.sum(np.cos(t)))

def grad(t):
    return -np.sin(t)

def make():
    return cost, np.linspace(0.1, 1.0, 4), grad
"""


# ====================================================================== 12. thresholds
def _square(t):
    return float(t @ t)


@pytest.mark.parametrize("thresholds, message", [
    ({"great": 10, "ok": 10, "suspect": 10}, "great < ok < suspect"),
    ({"great": 1e-4, "ok": 1e-4}, "great < ok < suspect"),
    ({"great": 1e-3, "ok": 1e-4}, "great < ok < suspect"),
    ({"ok": 0.5, "suspect": 0.9}, "would pass clearly wrong gradients"),
    ({"suspect": 2.0}, "leaves nothing 'wrong'"),
    ({"great": float("nan")}, "not a positive finite number"),
    ({"great": -1e-6}, "not a positive finite number"),
    ({"ok": True}, "not a positive finite number"),
    ({"ok": "1e-4"}, "not a positive finite number"),
    ({"fine": 1e-3}, "unknown threshold"),
])
def test_12_thresholds_that_do_not_increase_or_pass_wrong_gradients_are_refused_before_any_evaluation(
        thresholds, message):
    calls = []

    def counted(t):
        calls.append(1)
        return _square(t)

    with pytest.raises(ValueError, match=message) as exc:
        fc.check_gradient(counted, np.arange(1.0, 4.0), lambda t: 2 * t, thresholds=thresholds)
    assert "check_gradient()" in str(exc.value) and calls == []


def test_12_thresholds_must_be_a_dict():
    with pytest.raises(TypeError, match="thresholds must be a dict"):
        fc.check_gradient(_square, np.arange(1.0, 4.0), lambda t: 2 * t, thresholds=[1e-6, 1e-4, 1e-2])


@pytest.mark.parametrize("factor", [1.25, 1.5, 0.5, -1.0])
def test_12_the_laxest_bands_allowed_still_fail_a_clearly_wrong_gradient(factor):
    lax = {"great": 0.0999, "ok": 0.1, "suspect": 1.0}
    theta = np.array([0.3, -1.2, 2.0, 0.7])
    wrong = fc.check_gradient(_square, theta, lambda t: factor * 2 * t, thresholds=lax)
    # the difference of c·g against g is |c - 1| / (|c| + 1), above 0.1 for every factor here
    assert wrong.difference == pytest.approx(abs(factor - 1) / (abs(factor) + 1), rel=1e-6)
    assert not wrong.passed
    assert fc.check_gradient(_square, theta, lambda t: 2 * t, thresholds=lax).passed  # the right one passes


def test_12_every_check_refuses_the_same_thresholds():
    bad = {"great": 1e-3, "ok": 1e-3}
    model = MLP([2, 3, 1], activations="tanh", loss="sse")
    theta = model.init(0)
    X, y = model.sample_data(4, seed=0)
    for call in (lambda: fc.check_model(model, theta, X, y, thresholds=bad),
                 lambda: fc.check_directional(_square, np.ones(3), lambda t: 2 * t, thresholds=bad),
                 lambda: fc.check_functions(lambda p: float(np.sum(p["w"] ** 2)), {"w": np.ones(3)},
                                            lambda p: {"w": 2 * p["w"]}, thresholds=bad)):
        with pytest.raises(ValueError, match="great < ok < suspect"):
            call()


# ====================================================================== 13. user code that exits or raises BaseExceptions
EXITS = {
    "import": "import os\nos._exit(0)\n",
    "make": "import os\n\ndef make():\n    os._exit(0)\n",
    "cost": PLAIN.replace("return float(np.sum(np.cos(t)))", "import os\n    os._exit(0)"),
    "caught": PLAIN.replace("return float(np.sum(np.cos(t)))",
                            "import os\n    try:\n        os._exit(0)\n    except Exception:\n        return 0.0"),
}


@pytest.mark.parametrize("where", list(EXITS))
def test_13_os_exit_in_user_code_is_an_error_not_a_silent_exit_0(tmp_path, capsys, where):
    real = os._exit
    path = user_file(tmp_path, EXITS[where])
    code, out, err = run(capsys, "check", f"{path}:make", "--workers", "1")
    assert code == 2 and out == ""
    assert "os._exit(0)" in err and "nothing was checked" in err and len(err.strip().splitlines()) == 1
    assert os._exit is real  # the process's own exit is back as it was


def test_13_os_exit_is_refused_in_a_sweep_problem_too(tmp_path, capsys):
    path = user_file(tmp_path, EXITS["make"])
    code, _, err = run(capsys, "sweep", "eps", f"{path}:make", "--out", tmp_path / "out", "--quiet")
    assert code == 2 and "os._exit(0)" in err and "nothing was checked" in err


CANCELLED = {
    "import": "import asyncio\nraise asyncio.CancelledError('at import')\n",
    "make": "import asyncio\n\ndef make():\n    raise asyncio.CancelledError('in make')\n",
    "cost": PLAIN.replace("return float(np.sum(np.cos(t)))", "import asyncio\n    raise asyncio.CancelledError('in cost')"),
    "generator": PLAIN.replace("return float(np.sum(np.cos(t)))", "raise GeneratorExit('in cost')"),
}


@pytest.mark.parametrize("where", list(CANCELLED))
def test_13_a_base_exception_from_user_code_is_a_user_code_error_not_a_wrong_gradient(tmp_path, capsys, where):
    path = user_file(tmp_path, CANCELLED[where])
    code, out, err = run(capsys, "check", f"{path}:make", "--workers", "1")
    assert code == 2 and out == ""  # 2: the README's code for an error (user code included), never 1 "wrong"
    name = "GeneratorExit" if where == "generator" else "CancelledError"
    assert name in err and "BaseException" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_13_a_closed_pipe_raises_broken_pipe_not_a_user_exit():
    console = Terminal()
    with pytest.raises(BrokenPipeError):
        console.on_broken_pipe()


@pytest.mark.parametrize("argv, verdict_code", [
    (["check", "--model", "tutorial"], 0),
    (["check", "--model", "tutorial", "--mutant", "activation_derivative"], 1),
    (["check", "--model", "tutorial", "--json"], 0),
])
def test_13_a_reader_that_goes_away_gives_a_quiet_exit_with_the_verdicts_code(argv, verdict_code):
    r_fd, w_fd = os.pipe()
    os.close(r_fd)  # the reader is gone before a byte is written: every write to stdout is a broken pipe
    try:
        proc = subprocess.run([sys.executable, "-m", "fastcheck", *argv], stdout=w_fd, stderr=subprocess.PIPE,
                              env=ENV, text=True, timeout=300, check=False,
                              preexec_fn=lambda: signal.signal(signal.SIGPIPE, signal.SIG_IGN))
    finally:
        os.close(w_fd)
    assert proc.returncode == verdict_code, proc.stderr
    assert proc.stderr == ""  # no "user code called sys.exit(1)", no "Exception ignored ... BrokenPipeError"


# ====================================================================== 14. mutants that cannot show
@pytest.mark.parametrize("argv, reason", [
    (["--model", "tutorial", "--mutant", "bias_axis"], "the model has no biases"),
    (["--model", "tutorial", "--mutant", "no_l2_grad"], "l2 is 0"),
    (["--sizes", "4,3,2", "--mutant", "no_l2_grad"], "l2 is 0"),
    (["--sizes", "4,3,2", "--mutant", "dropout_backward"], "keep_prob is 1"),
    (["--sizes", "4,3,2", "--loss", "mse", "--batch", "1", "--mutant", "missing_1_over_m"], "one example"),
    (["--sizes", "4,3,2", "--activation", "relu", "--mutant", "activation_derivative"], "activation is relu"),
])
def test_14_a_mutant_that_cannot_change_the_gradient_is_refused_naming_why(capsys, argv, reason):
    code, out, err = run(capsys, "check", *argv)
    assert code == 2 and out == ""
    assert f"--mutant {argv[-1]} cannot change the gradient" in err and reason in err and "could only pass" in err


def test_14_the_demo_refuses_a_mutant_its_network_cannot_show(capsys):
    code, _, err = run(capsys, "demo", "--no-sweep", "--mutant", "bias_axis")
    assert code == 2 and "no biases" in err


def test_14_with_the_option_that_shows_it_the_mutant_runs_and_fails(capsys):
    code, out, _ = run(capsys, "check", "--sizes", "4,3,2", "--l2", "0.1", "--mutant", "no_l2_grad", "--json")
    assert code == 1 and json.loads(out)["verdict"] == "wrong"


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_14_what_hidden_because_says_is_true_of_the_gradients(name):
    """Every reason given is checked against the gradients themselves (mutant equals correct, bit for bit)."""
    configs = [{"sizes": (3, 4, 2), "activations": "tanh", "loss": "mse", "l2": 0.0, "bias": True},
               {"sizes": (3, 4, 2), "activations": "relu", "loss": "sse", "l2": 0.1, "bias": False},
               {"sizes": (1, 4, 2), "activations": "identity", "loss": "mse", "l2": 0.1, "keep_prob": 0.7,
                "dropout_seed": 1},
               {"sizes": (3, 2), "activations": "sigmoid", "loss": "bce", "l2": 0.1, "bias": True}]
    for cfg in configs:
        for batch in (1, 5):
            model = MLP(**cfg)
            why = MUTANTS[name].hidden_because(model, batch)
            theta = model.init(seed=2)
            X, y = model.sample_data(batch, seed=3)
            same = np.array_equal(model.mutant(name).grad(theta, X, y), model.grad(theta, X, y))
            if why:
                assert same, (name, cfg, batch, why)
            else:
                assert not same, (name, cfg, batch)


# ====================================================================== 15. --json with user code that prints
PRINTING = """
import os
import numpy as np
print("printed at import")

def cost(t):
    print("printed in the cost")
    os.write(1, b"written to fd 1 in the cost\\n")
    return float(np.sum(np.cos(t)))

def grad(t):
    return -np.sin(t)

def make():
    print("printed in make")
    return cost, np.linspace(0.1, 1.0, 4), grad
"""


def test_15_json_stays_json_when_user_code_prints(tmp_path, capfd):
    path = user_file(tmp_path, PRINTING)
    code = main(["check", f"{path}:make", "--json", "--workers", "1"])
    out, err = capfd.readouterr()
    assert code == 0
    assert json.loads(out)["verdict"] == "great"  # stdout is one JSON document and nothing else
    for line in ("printed at import", "printed in make", "printed in the cost", "written to fd 1 in the cost"):
        assert line in err and line not in out


def test_15_the_taylor_tests_json_stays_json_too(tmp_path, capfd):
    path = user_file(tmp_path, PRINTING)
    code = main(["taylor", f"{path}:make", "--json"])
    out, err = capfd.readouterr()
    assert code == 0 and isinstance(json.loads(out), list)
    assert "printed in the cost" in err and "written to fd 1" in err and "printed" not in out


def test_15_without_json_user_prints_stay_out_of_the_report_too(tmp_path, capfd):
    path = user_file(tmp_path, PRINTING)
    assert main(["check", f"{path}:make", "--workers", "1"]) == 0
    out, err = capfd.readouterr()
    assert out.startswith(f"{path}:make: PASSED") and "printed" not in out and "printed in make" in err


# ====================================================================== 16. report files that are not regular
@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny") / "eps-tiny"
    eps_sweep("smooth:n=3,jit=0", eps=np.logspace(0, -8, 9), schemes=("forward", "central"), dtypes=("float64",),
              out=d)
    return d


def _copy(src: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in ("results.csv", "sweep.json"):
        (dest / name).write_bytes((src / name).read_bytes())
    return dest


@pytest.mark.parametrize("planted, kind", [
    ("fifo:sweep.json", "is a FIFO"), ("fifo:results.csv", "is a FIFO"),
    ("zero:results.csv", "is a device"), ("zero:sweep.json", "is a device"),
    ("dir:results.csv", "is a directory"), ("dir:sweep.json", "is a directory"),
])
def test_16_report_refuses_files_that_are_not_regular_at_once(tiny_sweep, tmp_path, capsys, planted, kind):
    how, name = planted.split(":")
    d = _copy(tiny_sweep, tmp_path / "d")
    (d / name).unlink()
    if how == "fifo":
        os.mkfifo(d / name)
    elif how == "zero":
        (d / name).symlink_to("/dev/zero")
    else:
        (d / name).mkdir()
    code, out, err = run(capsys, "report", d)  # a FIFO would block and /dev/zero never end: this returns
    assert code == 2 and out == ""
    assert f"{d / name} {kind}" in err and len(err.strip().splitlines()) == 1


def test_16_report_bounds_what_it_reads(tiny_sweep, tmp_path, capsys):
    d = _copy(tiny_sweep, tmp_path / "d")
    with open(d / "sweep.json", "r+b") as fh:
        fh.truncate(64 << 20)  # a sparse file of 64 MiB: over the bound for sweep.json, and no memory spent
    code, _, err = run(capsys, "report", d)
    assert code == 2 and "67,108,864 bytes, more than the 16,777,216 fastcheck reads" in err


def test_16_read_bounded_reads_up_to_its_limit_and_refuses_one_byte_more(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    assert read_bounded(path, limit=100) == b"x" * 100
    with pytest.raises(SweepFileError, match="more than the 99 fastcheck reads"):
        read_bounded(path, limit=99)
    with pytest.raises(FileNotFoundError):
        read_bounded(tmp_path / "missing")


# ====================================================================== 17. report injection
HOSTILE = ("<script>alert(1)</script><img src=x onerror=alert(2)> |cell| **bold** [link](javascript:x) "
           "```\nsecond line\r# heading $\\frac{a}{$ :x: [red]")
COMMAND = "fastcheck sweep eps x\n```\n<iframe src=https://evil.example></iframe>\n````` done"


def _html(markdown: str) -> str:
    return MarkdownIt("commonmark").enable("table").render(markdown)


@pytest.fixture(scope="module")
def hostile_report(tiny_sweep, tmp_path_factory):
    d = _copy(tiny_sweep, tmp_path_factory.mktemp("hostile") / "d")
    df = pd.read_csv(d / "results.csv", keep_default_na=False)
    df["problem"] = HOSTILE
    df["note"] = "=HYPERLINK(\"https://evil.example\",\"click\")"
    df.to_csv(d / "results.csv", index=False)
    meta = json.loads((d / "sweep.json").read_text())
    meta["command"] = COMMAND
    (d / "sweep.json").write_text(json.dumps(meta))
    write_report(d)
    return d


def test_17_names_and_commands_from_the_files_show_as_text_in_the_readme(hostile_report):
    readme = (hostile_report / "README.md").read_text()
    html = _html(readme)
    for tag in ("<script", "<img src=x", "<iframe", "<a href=\"javascript", "<strong>bold",
                "<h2>second", "<h1>heading"):
        assert tag not in html, tag
    assert "&lt;script&gt;" in html and "&lt;iframe" in html
    assert readme.splitlines()[0].startswith("# Error vs ε: ") and "second line" in readme.splitlines()[0]
    # the command is one code block, shown verbatim: the fence inside it does not close it
    blocks = MarkdownIt("commonmark").parse(readme)
    fences = [t for t in blocks if t.type == "fence"]
    assert len(fences) == 1 and fences[0].content.rstrip("\n") == COMMAND


def test_17_table_cells_keep_their_row_and_their_text(hostile_report):
    html = _html((hostile_report / "README.md").read_text())
    # what a reader sees is the name itself, on one line, in one cell of each row (a CommonMark renderer is
    # the reference): HTML shown as text, no cell split at its pipes, no emphasis, no link
    shown = HOSTILE.replace("\n", " ").replace("\r", " ").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    body_rows = html.count("<tr>") - html.count("<thead>")  # every table's rows below its header row
    assert body_rows > 2 and html.count(f"<td>{shown}</td>") == body_rows
    assert f"<h1>Error vs ε: {shown}</h1>" in html


def test_17_csv_cells_that_a_spreadsheet_would_run_are_neutralised(hostile_report):
    with open(hostile_report / "fits.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    text_cells = [c for row in rows[1:] for c in row if c and not _is_number(c)]
    assert text_cells and not any(c.startswith(("=", "+", "@")) for c in text_cells)
    assert all(not c.startswith("-") or _is_number(c) for c in text_cells)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_17_results_csv_round_trips_formula_like_names_exactly(tmp_path):
    names = ["=HYPERLINK(\"x\")", "+1", "-a", "@sum", "'quoted", "\ttab", "plain"]
    store = ResultStore(tmp_path, EPS_SCHEMA, key=("problem",))
    store.start({"kind": "eps"}, resume=False, overwrite=False)
    row = {c: (0 if k == "int" else 0.0 if k == "float" else False if k == "bool" else "")
           for c, k in EPS_SCHEMA.items()}
    store.append([{**row, "problem": n} for n in names])
    store.close()
    with open(tmp_path / "results.csv", newline="", encoding="utf-8") as fh:
        raw = [row[0] for row in csv.reader(fh)][1:]
    assert raw == ["'" + n for n in names[:-1]] + ["plain"]  # no cell starts as a formula
    assert list(store.read()["problem"]) == names  # and reading back gives the names written
    store.abort()


def test_17_escape_helpers_against_their_definitions():
    assert [csv_uncell(csv_cell(v)) for v in ("=a", "'b", "c", 1.5)] == ["=a", "'b", "c", 1.5]
    assert md_code_block("a ```` b")[0] == "`````" and md_code_block("plain")[0] == "```"
    assert md_text("a\nb|c") == "a b\\|c"
    text = markdown_table(pd.DataFrame({"name": ["<b>x</b>"], "v": [-1.5]}), {"v": "+.2f"})
    assert text.splitlines()[2] == "| &lt;b&gt;x&lt;/b&gt; | -1.50 |"


# ====================================================================== 18. names
def test_18_a_name_that_is_not_utf8_is_refused_before_any_work(tmp_path, capsys):
    bad = os.fsdecode(b"bad\xff")
    code, out, err = run(capsys, "sweep", "eps", "cube", "--name", bad, "--out", tmp_path / "out")
    assert code == 2 and out == "" and "not UTF-8" in err and "b'\\xff'" in err
    assert not (tmp_path / "out").exists()  # nothing computed, nothing written


def test_18_a_target_path_that_is_not_utf8_is_refused_up_front(tmp_path, capsys):
    path = os.fsdecode(bytes(tmp_path) + b"/n\xff.py")
    code, _, err = run(capsys, "check", f"{path}:make")
    assert code == 2 and "not UTF-8" in err


def test_18_a_dollar_in_a_problem_name_does_not_break_the_plot(hostile_report):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    png = hostile_report / "eps_error.png"
    assert png.stat().st_size > 1000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig = Figure()
    FigureCanvasAgg(fig)
    fig.suptitle("$\\frac{a}{$")
    with pytest.raises(ValueError):  # the reference: unescaped, matplotlib cannot draw it
        fig.canvas.draw()
    fig.suptitle(mathtext_plain("$\\frac{a}{$"))
    fig.canvas.draw()


def test_18_rich_markup_and_emoji_codes_in_a_name_print_as_typed(tmp_path, capsys):
    folder = tmp_path / "[red]"
    folder.mkdir()
    path = user_file(folder, PLAIN + "\nx = make\n", name="uf.py")
    code, out, _ = run(capsys, "check", f"{path}:x", "--workers", "1")
    assert code == 0
    assert out.startswith(f"{path}:x: PASSED") and "❌" not in out and "[red]" in out


def test_18_a_progress_bar_shows_names_as_typed():
    import io

    from fastcheck.support.progress import make_progress

    stream = io.StringIO()
    with make_progress("rich", 3, "[red]uf.py:x:", stream) as bar:
        bar.advance(1, info="[b]n:x:")
    shown = stream.getvalue()
    assert "[red]uf.py:x:" in shown and "[b]n:x:" in shown and "❌" not in shown
