"""The command line, in process (fast) and once as the installed console script."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fastcheck.cli import build_parser, main
from tests.strictjson import loads as strict_json

DATA = Path(__file__).resolve().parents[1] / "data"
ROOT = Path(__file__).resolve().parents[2]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_object_style_file_passes(capsys):
    code, out, err = run(capsys, "check", f"{DATA / 'seed_object.py'}:make")
    assert code == 0, err
    assert "PASSED" in out and "W1" in out and "W2" in out


def test_object_style_bug_fails_with_exit_1_and_names_the_block(capsys):
    code, out, _ = run(capsys, "check", f"{DATA / 'seed_object.py'}:make_broken")
    assert code == 1
    assert "FAILED" in out and "worst coordinates" in out and "look at the backprop of" in out
    assert "W1" in out.split("look at the backprop of:")[1]


def test_dictionary_style_json(capsys):
    code, out, _ = run(capsys, "check", f"{DATA / 'course_dict.py'}:make", "--json")
    assert code == 1
    result = strict_json(out)
    assert result["passed"] is False
    assert result["failing_blocks"] == "b1"
    assert [b["block"] for b in result["blocks"]] == ["W1", "b1", "W2", "b2"]
    assert result["worst"][0]["block"] == "b1"


def test_plain_cost_with_options(capsys):
    code, out, _ = run(capsys, "check", f"{DATA / 'plain_cost.py'}:make", "--scheme", "central4", "--json")
    assert code == 0
    result = strict_json(out)
    assert result["scheme"] == "central4" and result["checked"] == 6
    code, out, _ = run(capsys, "check", f"{DATA / 'plain_cost.py'}:make", "--directional", "3", "--json")
    assert code == 0 and strict_json(out)["kind"] == "directional"
    code, out, _ = run(capsys, "check", f"{DATA / 'plain_cost.py'}:make", "--sample", "2", "--seed", "4", "--json")
    assert code == 0 and strict_json(out)["checked"] == 2


@pytest.mark.parametrize(
    "argv, message",
    [
        (["check", "no/such/file.py:make"], "no such file: no/such/file.py"),
        (["check", f"{DATA / 'does_not_import.py'}:make"], "does not import: ModuleNotFoundError"),
        (["check", f"{DATA / 'plain_cost.py'}:nope"], "has no function 'nope'"),
        (["check", f"{DATA / 'plain_cost.py'}:make_raises"], "raised RuntimeError: the user's make() failed"),
        (["check", f"{DATA / 'seed_object.py'}:make_nonsense"], "does not recognise"),
        (["check", f"{DATA / 'seed_object.py'}:make_nan"], "X contains NaN"),
        (["check", f"{DATA / 'plain_cost.py'}:make", "--eps", "-1"], "--eps must be positive"),
        (["check", f"{DATA / 'plain_cost.py'}:make", "--sample", "2", "--directional", "2"], "not both"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_help_lists_every_option_with_its_default(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        text = p.format_help()
        for action in p._actions:
            if action.option_strings and action.dest != "help" and action.default not in (None, False):
                assert f"(default: {action.default})" in " ".join(text.split()), (name, action.dest)


def test_console_script_version_and_exit_code(tmp_path):
    exe = shutil.which("fastcheck") or str(Path(sys.executable).parent / "fastcheck")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("fastcheck ")
    bad = subprocess.run([exe, "check", "missing.py:make"], capture_output=True, text=True)
    assert bad.returncode == 2 and "no such file" in bad.stderr


def test_demo_checks_both_networks_and_writes_the_eps_report(capsys, tmp_path):
    code, out, _ = run(capsys, "demo", "--report", tmp_path / "demo")
    assert code == 0
    assert "correct: PASSED" in out and "broken: FAILED" in out and "look at the backprop of: W1" in out
    assert "central4" in out and "round-off" in out
    for name in ("results.parquet", "results.csv", "eps_error.png", "README.md"):
        assert (tmp_path / "demo" / name).stat().st_size > 0
    code, out, _ = run(capsys, "demo", "--no-sweep")
    assert code == 0 and "round-off" not in out


def test_builtin_model_spec(capsys):
    base = ["check", "--model", "mlp", "--sizes", "8,5,3", "--batch", "4", "--activation", "tanh", "--loss", "mse"]
    code, out, _ = run(capsys, *base, "--json")
    assert code == 0
    result = strict_json(out)
    assert result["passed"] and result["path"] == "structured" and result["checked"] == 8 * 5 + 5 + 5 * 3 + 3
    code, out, _ = run(capsys, *base, "--mutant", "bias_axis", "--json")
    assert code == 1 and strict_json(out)["failing_blocks"] == "b2"
    code, out, _ = run(capsys, *base, "--mode", "blackbox", "--sample", "2", "--json")
    assert code == 0 and strict_json(out)["checked"] == 8
    code, out, _ = run(capsys, *base, "--dtype", "float32", "--scheme", "complex", "--json")
    result = strict_json(out)
    assert code == 0 and result["scheme"] == "complex" and result["dtype"] == "float32" and result["difference"] < 1e-5
    code, out, _ = run(capsys, *base, "--dtype", "float32", "--mutant", "bias_axis", "--json")
    assert code == 1 and strict_json(out)["failing_blocks"] == "b2"
    code, out, _ = run(capsys, "check", "--model", "tutorial", "--directional", "2", "--json")
    assert code == 0 and strict_json(out)["kind"] == "directional"
    code, _, err = run(capsys, "check", "--model", "mlp", "--sizes", "8,x")
    assert code == 2 and "--sizes must be comma-separated integers" in err
    with pytest.raises(SystemExit) as exc:  # an enumerated option: argparse lists the choices
        main([*base, "--mutant", "nope"])
    assert exc.value.code == 2 and "invalid choice: 'nope'" in capsys.readouterr().err


# -- layers and named blocks from a user file -----------------------------------------------------
def test_a_layer_from_a_file(capsys):
    code, out, _ = run(capsys, "check", f"{DATA / 'layer_make.py'}:make", "--json")
    assert code == 0
    result = strict_json(out)
    assert [b["block"] for b in result["blocks"]] == ["x", "w", "b"]
    code, out, _ = run(capsys, "check", f"{DATA / 'layer_make.py'}:make_bug", "--json")
    assert code == 1 and strict_json(out)["failing_blocks"] == "b"
    code, out, _ = run(capsys, "check", f"{DATA / 'layer_make.py'}:make_with_args", "--json")
    assert code == 0 and strict_json(out)["checked"] == 5
    # every check takes directions: a layer gets a directional check of its VJPs, two directions per input
    code, out, _ = run(capsys, "check", f"{DATA / 'layer_make.py'}:make", "--directional", "2", "--json")
    assert code == 0 and strict_json(out)["kind"] == "directional" and strict_json(out)["checked"] == 6
    code, out, _ = run(capsys, "check", f"{DATA / 'layer_make.py'}:make_bug", "--directional", "2", "--json")
    assert code == 1 and strict_json(out)["failing_blocks"] == "b"


def test_a_layout_names_the_blocks_of_a_plain_cost(capsys):
    code, out, _ = run(capsys, "check", f"{DATA / 'layer_make.py'}:make_named", "--json")
    assert code == 1
    result = strict_json(out)
    assert [b["block"] for b in result["blocks"]] == ["W", "bias"]
    assert result["failing_blocks"] == "bias"


# -- help and readable output (issue 27, items 2 and 3) ---------------------------------------------------
def _help(*argv):
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit):
        main([*argv, "--help"])
    return buf.getvalue()


@pytest.mark.parametrize("argv", [["demo"], ["check"], ["sweep"], ["sweep", "eps"], ["sweep", "size"], ["report"]])
def test_every_help_shows_each_default_once_and_no_python_reprs(argv, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one option per line
    text = _help(*argv)
    assert "default: None" not in text and "(default: (" not in text and "(default: [" not in text
    for line in text.splitlines():
        assert line.count("default") <= 1, line
    assert "seed is its old name" not in text and "(seed," not in text


def test_enumerated_options_list_their_choices(monkeypatch):
    from fastcheck.models import ACTIVATIONS, LOSSES, MUTANTS

    monkeypatch.setenv("COLUMNS", "200")
    check, size, demo = _help("check"), _help("sweep", "size"), _help("demo")
    for text in (check, size):
        assert all(name in text for name in ACTIVATIONS) and all(name in text for name in LOSSES)
    assert all(name in check and name in demo for name in MUTANTS)


def test_sweep_help_lists_both_kinds_options_and_dask_workers():
    text = _help("sweep")
    assert "fastcheck sweep eps" in text and "fastcheck sweep size" in text
    assert "--schemes" in text and "--modes" in text and "--dask-workers N" in text and "--scheduler" in text


def test_no_bench_command_and_tutorial_names():
    assert "bench" not in _help()
    from fastcheck.cli import COMMANDS

    assert "bench" not in COMMANDS and not (Path(__file__).parents[1] / "fastcheck" / "cli" / "bench.py").exists()


def test_bad_choices_are_usage_errors(capsys):
    for argv in (["check", "--activation", "sigmoid,swish"], ["check", "--loss", "hinge"], ["check", "--mutant", "x"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    assert "choose from identity" in capsys.readouterr().err


def test_piped_output_at_80_columns_shows_every_number(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, "check", "--model", "tutorial", "--mutant", "activation_derivative")
    assert code == 1
    assert "…" not in out and "..." not in out and "\x1b[" not in out   # plain, nothing cut
    table_lines = [ln for ln in out.splitlines()[2:] if ln.startswith("  ")]   # the tables (indented)
    assert table_lines and all(len(ln) <= 80 for ln in table_lines), out
    code, js, _ = run(capsys, "check", "--model", "tutorial", "--mutant", "activation_derivative", "--json")
    result = strict_json(js)
    for block in result["blocks"]:
        assert f"{block['difference']:.2e}" in out and f"{block['max_abs_err']:.2e}" in out
    for row in result["worst"]:
        assert f"{row['analytic']:.6g}" in out and f"{row['abs_err']:.2e}" in out
    first = out.splitlines()[0]
    assert first.startswith("tutorial: FAILED — wrong in") and "· blocks: W1 wrong" in first
    code, wide, _ = run(capsys, "check", "--model", "tutorial", "--mutant", "activation_derivative", "--wide")
    assert max(len(line) for line in wide.splitlines()) > 80


def test_the_readmes_piped_command_in_a_real_pipe(capsys):
    # `COLUMNS=80 fastcheck check --model tutorial --mutant activation_derivative | cat`: a process whose stdout is
    # a pipe (what decides plain output there is the process's own view of its stdout, not capsys)
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(ROOT)}
    for key in ("FORCE_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE"):
        env.pop(key, None)
    proc = subprocess.run([sys.executable, "-m", "fastcheck", "check", "--model", "tutorial", "--mutant",
                           "activation_derivative"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert "…" not in out and "..." not in out and "\x1b[" not in out
    table_lines = [line for line in out.splitlines()[2:] if line.startswith("  ")]   # the tables (indented)
    assert table_lines and all(len(line) <= 80 for line in table_lines), out
    _, js, _ = run(capsys, "check", "--model", "tutorial", "--mutant", "activation_derivative", "--json")
    result = strict_json(js)
    for block in result["blocks"]:   # every number of the JSON, in full, in the piped text
        assert f"{block['difference']:.2e}" in out and f"{block['max_abs_err']:.2e}" in out
    for row in result["worst"]:
        assert f"{row['analytic']:.6g}" in out and f"{row['numerical']:.6g}" in out and f"{row['abs_err']:.2e}" in out


def test_sweep_workers_says_what_to_use(capsys, tmp_path):
    assert main(["sweep", "eps", "square", "--workers", "2", "--out", str(tmp_path)]) == 2
    assert "--dask-workers" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_sweep_writes_into_fastcheck_reports_and_leaves_no_lock(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", "eps", "square", "--eps", "1e-2,1e-4", "--schemes", "central", "--dtypes", "float64",
                 "--name", "eps-square", "--quiet", "--no-report"]) == 0
    d = tmp_path / "fastcheck-reports" / "eps-square"
    assert (d / "results.csv").exists() and not (d / ".fastcheck.lock").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["fastcheck-reports"]
