"""The asv suite cannot rot unnoticed: it passes ``asv check``, its parameter
lists match their names, it builds no data at import time, asv itself fails
on a broken suite, and the recorded results can be compared and published."""
from __future__ import annotations

import importlib
import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("asv")

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "benchmarks" / "asv.conf.json"
SUITE = ROOT / "benchmarks" / "asv_suite"
RESULTS = ROOT / "reports" / "asv" / "results"
MACHINE = "fastcheck-ci"
PREFIXES = ("time_", "timeraw_", "peakmem_", "mem_", "track_")


def _conf() -> dict:
    from asv.util import load_json

    return load_json(str(CONF), js_comments=True)


def asv(*args, conf=CONF, home=None, timeout=300):
    """Run ``python -m asv`` with ``conf``; HOME may point at a scratch machine file."""
    env = dict(os.environ)
    if home is not None:
        env["HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "asv", "--config", str(conf), *args],
        capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT,
    )


def _modules():
    sys.path.insert(0, str(SUITE.parent))
    try:
        return [importlib.import_module(f"asv_suite.{p.stem}") for p in sorted(SUITE.glob("bench_*.py"))]
    finally:
        sys.path.remove(str(SUITE.parent))


def _benchmark_classes():
    for mod in _modules():
        for name, obj in vars(mod).items():
            if inspect.isclass(obj) and obj.__module__ == mod.__name__ and not name.startswith("_"):
                if any(m.startswith(PREFIXES) for m in dir(obj)):
                    yield mod.__name__, obj


# -- the configuration ---------------------------------------------------------------
def test_config_paths_and_commands():
    c = _conf()
    assert (CONF.parent / c["repo"]).resolve() == ROOT
    assert (CONF.parent / c["results_dir"]).resolve() == RESULTS
    assert (CONF.parent / c["benchmark_dir"]).resolve() == SUITE
    html = (CONF.parent / c["html_dir"]).resolve()
    ignored = subprocess.run(["git", "check-ignore", "-q", str(html / "index.html")], cwd=ROOT)
    assert ignored.returncode == 0, "the generated HTML must not be committed"
    # fastcheck's own wheel only: dependency wheels in the build cache make {wheel_file} ambiguous
    assert all("--no-deps" in cmd for cmd in c["build_command"] + c["install_command"])
    assert c["environment_type"] == "virtualenv"
    # the environment builds pin what the project depends on
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {d.split(">")[0].split("=")[0].split("<")[0].strip().lower() for d in deps}
    assert names <= set(c["matrix"]["req"]), f"asv matrix misses {names - set(c['matrix']['req'])}"


# -- the suite ------------------------------------------------------------------------------
def test_asv_check_passes():
    res = asv("check", "-E", "existing:same")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "No problems found" in res.stdout


def test_params_match_param_names():
    classes = list(_benchmark_classes())
    assert len(classes) >= 10
    for mod, cls in classes:
        params = getattr(cls, "params", None)
        names = getattr(cls, "param_names", None)
        if params is None:
            assert names is None, f"{mod}.{cls.__name__} names parameters it does not have"
            continue
        assert isinstance(params, (list, tuple)) and all(isinstance(p, (list, tuple)) for p in params), (
            f"{mod}.{cls.__name__}.params must be a list of lists (one per parameter)"
        )
        assert names is not None and len(names) == len(params), f"{mod}.{cls.__name__}: params and param_names differ"
        assert all(len(p) > 0 for p in params)
        for meth in (m for m in dir(cls) if m.startswith(PREFIXES)):
            sig = inspect.signature(getattr(cls, meth))
            extra = 1 if getattr(cls, "setup_cache", None) is not None else 0
            assert len(sig.parameters) - 1 - extra == len(names), f"{mod}.{cls.__name__}.{meth} takes the wrong parameters"


def test_what_the_suite_covers():
    names = {f"{mod}.{cls.__name__}.{m}" for mod, cls in _benchmark_classes() for m in dir(cls) if m.startswith(PREFIXES)}
    kinds = {n.rsplit(".", 1)[1].split("_")[0] for n in names}
    assert {"time", "timeraw", "peakmem", "track"} <= kinds
    for needed in ("ModelCheck.time_check", "ModelSampled.time_sampled", "ModelDirectional.time_directional",
                   "EpsSweep.time_eps_sweep", "FittedOrders.track_truncation_slope", "ModelCheck.track_difference",
                   "ModelPeakMemory.peakmem_structured", "CompileTime.timeraw_first_check_gradient",
                   "bench_cold.ColdStart.timeraw_command", "bench_ratios.ColdStart.track_ratio"):
        assert any(n.endswith(needed) for n in names), needed


def test_no_data_built_at_import_time():
    for mod in _modules():
        for name, value in vars(mod).items():
            assert not isinstance(value, (np.ndarray, pd.DataFrame, pd.Series)), f"{mod.__name__}.{name} is data built at import"


# -- asv catches a broken suite ----------------------------------------------------------------
def _scratch_suite(tmp_path, source: str) -> Path:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "__init__.py").write_text("")
    (suite / "bench_broken.py").write_text(source)
    conf = _conf()
    conf.update(repo=str(ROOT), benchmark_dir=str(suite), results_dir=str(tmp_path / "results"),
                html_dir=str(tmp_path / "html"), env_dir=str(tmp_path / "env"))
    path = tmp_path / "asv.conf.json"
    path.write_text(json.dumps(conf))
    return path


def test_asv_check_fails_when_params_and_names_differ(tmp_path):
    conf = _scratch_suite(tmp_path, "class Rotten:\n    params = ([1, 2], [3])\n    param_names = ['n']\n\n"
                                    "    def time_it(self, n):\n        pass\n")
    res = asv("check", "-E", "existing:same", conf=conf)
    assert res.returncode != 0


def test_quick_run_exits_nonzero_when_a_benchmark_breaks(tmp_path):
    conf = _scratch_suite(tmp_path, "def time_fine():\n    pass\n\n\ndef time_broken():\n    raise RuntimeError('x')\n")
    home = tmp_path / "home"
    home.mkdir()
    assert asv("machine", "--yes", "--machine", "scratch", conf=conf, home=home).returncode == 0
    res = asv("run", "--quick", "--dry-run", "-E", "existing:same", "--machine", "scratch", conf=conf, home=home)
    assert res.returncode != 0
    assert "time_broken" in res.stdout and "failed" in res.stdout


# -- recorded results ------------------------------------------------------------------------------
def _recorded():
    files = sorted((RESULTS / MACHINE).glob("*.json")) if (RESULTS / MACHINE).is_dir() else []
    return [json.loads(f.read_text()) for f in files if f.name != "machine.json"]


def test_recorded_results_are_landed_commits():
    recorded = _recorded()
    if not recorded:
        pytest.skip("no recorded results yet")
    shallow = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], cwd=ROOT, capture_output=True, text=True)
    if shallow.stdout.strip() == "true":
        pytest.skip("a shallow clone lacks the history the recorded results refer to")
    for r in recorded:
        known = subprocess.run(["git", "cat-file", "-e", f"{r['commit_hash']}^{{commit}}"], cwd=ROOT)
        assert known.returncode == 0, f"results for {r['commit_hash']}, which is not a commit of this repository"
        assert r["params"]["machine"] == MACHINE


def test_asv_compare_and_publish_from_the_recorded_results(tmp_path):
    recorded = [r for r in _recorded() if r["env_name"].startswith("virtualenv")]
    if len(recorded) < 2:
        pytest.skip("fewer than two recorded commits")
    a, b = sorted(recorded, key=lambda r: r["date"])[-2:]
    res = asv("compare", a["commit_hash"], b["commit_hash"], "--machine", MACHINE)
    assert res.returncode == 0, res.stderr
    assert "bench_core.CheckGradient.time_check_gradient" in res.stdout
    conf = _conf()
    conf.update(repo=str(ROOT), benchmark_dir=str(SUITE), results_dir=str(RESULTS), html_dir=str(tmp_path / "html"))
    path = tmp_path / "asv.conf.json"
    path.write_text(json.dumps(conf))
    res = asv("publish", conf=path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "html" / "index.html").exists()
    shutil.rmtree(tmp_path / "html")
