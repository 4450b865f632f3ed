"""benchmarks/gate.py: history read from asv result files, baselines, verdicts, and the ratios it gates
matching the asv benchmarks that record them.  (The measurements themselves run in CI, not here.)"""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
gate = importlib.import_module("gate")
ratios = importlib.import_module("asv_suite._ratios")
bench_ratios = importlib.import_module("asv_suite.bench_ratios")
sys.path.remove(str(ROOT / "benchmarks"))

COLUMNS = ["result", "params", "version", "started_at", "duration"]


def write_result(folder: Path, commit: str, date: int, results: dict) -> None:
    """An asv result file in the layout asv 0.6 writes (result and params columns)."""
    folder.mkdir(parents=True, exist_ok=True)
    body = {"commit_hash": commit, "date": date, "params": {"machine": "m"}, "result_columns": COLUMNS,
            "results": {name: [values, params, "v", 0, 1.0] for name, (values, params) in results.items()},
            "version": 2}
    (folder / f"{commit[:8]}-env.json").write_text(json.dumps(body))


NET = "bench_ratios.CheckInForwardPasses.track_ratio"
CALLS = "bench_ratios.BlackBoxInCostCalls.track_ratio"


@pytest.fixture
def history(tmp_path):
    m = tmp_path / "m"
    (m / "machine.json").parent.mkdir(parents=True)
    (m / "machine.json").write_text("{}")
    nets = [["'64-32-10'", "'784-128-10'"]]
    write_result(m, "a" * 40, 1, {NET: ([100.0, 900.0], nets), CALLS: ([4000.0], [])})
    write_result(m, "b" * 40, 2, {NET: ([110.0, 400.0], nets), CALLS: ([None], []),
                                  "bench_models.ModelCheck.time_check": ([0.1], [])})
    write_result(m, "c" * 40, 3, {NET: ([120.0, 420.0], nets)})
    write_result(m, "d" * 40, 4, {NET: ([130.0, float("nan")], nets)})
    return tmp_path


def test_history_is_read_per_ratio_key(history):
    h = gate.read_history(history, "m")
    assert sorted(h) == [CALLS, f"{NET}(64-32-10)", f"{NET}(784-128-10)"]
    assert [v for _, v in sorted(h[f"{NET}(64-32-10)"])] == [100.0, 110.0, 120.0, 130.0]
    assert [v for _, v in sorted(h[f"{NET}(784-128-10)"])] == [900.0, 400.0, 420.0]  # NaN left out
    assert h[CALLS] == [(1, 4000.0)]  # a missing value (None) is left out


def test_the_baseline_is_the_median_of_the_three_latest_commits(history):
    h = gate.read_history(history, "m")
    assert gate.baseline(h[f"{NET}(64-32-10)"]) == 120.0  # 110, 120, 130: the oldest (100) is dropped
    assert gate.baseline(h[f"{NET}(784-128-10)"]) == 420.0  # 900, 400, 420: one slow record does not move it


def test_a_ratio_regresses_only_if_every_measurement_is_above_the_factor():
    assert gate.judge([160.0], 100.0, 1.5) == "regressed"
    assert gate.judge([160.0, 170.0, 140.0], 100.0, 1.5) == "ok"  # one quiet measurement clears it
    assert gate.judge([149.0], 100.0, 1.5) == "ok"
    assert gate.judge([1e9], None, 1.5) == "no history"


def test_unreadable_history_and_bad_options_exit_2(tmp_path, capsys):
    bad = tmp_path / "m"
    bad.mkdir()
    (bad / "x.json").write_text("{truncated")
    assert gate.main(["--results", str(tmp_path), "--machine", "m"]) == 2
    assert "x.json" in capsys.readouterr().err
    assert gate.main(["--factor", "0.9"]) == 2
    assert gate.main(["--only", "no such ratio"]) == 2


def test_every_gated_ratio_is_an_asv_benchmark_with_that_parameter():
    for r in ratios.RATIOS:
        module, cls, method = r.benchmark.split(".")
        assert module == "bench_ratios"
        klass = getattr(bench_ratios, cls)
        assert callable(getattr(klass, method)) and method.startswith("track_")
        params = getattr(klass, "params", None)
        if r.param is None:
            assert params is None, r.key
        else:
            assert r.param in params[0], r.key


def test_the_recorded_history_covers_every_gated_ratio():
    h = gate.read_history(gate.RESULTS, "fastcheck-ci")
    missing = [r.key for r in ratios.RATIOS if r.key not in h]
    assert not missing, f"no recorded values for {missing}: record them (benchmarks/README.md)"
