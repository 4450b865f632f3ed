"""The pytest plugin and the Hypothesis strategies (issue 27, item 5).

The sample project in tests/data/plugin_project is a user's test file: it is run here in a subprocess,
with the plugin loaded by -p (plugin autoload off, so an installed entry point cannot load it twice).
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib
from hypothesis import given, settings

import fastcheck
from fastcheck.testing import strategies

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "tests" / "data" / "plugin_project"


def run_project(*args):
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "COLUMNS": "100"}
    cmd = [sys.executable, "-m", "pytest", "-p", "fastcheck.testing.plugin", "-p", "no:cacheprovider", "-v",
           "--rootdir", str(PROJECT), str(PROJECT), *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def outcomes(stdout: str) -> dict:
    return dict(re.findall(r"::(\w+) (PASSED|FAILED|SKIPPED|ERROR)", stdout))


@pytest.fixture(scope="module")
def full():
    return run_project()


def test_the_sample_project_passes_and_fails_where_it_should(full):
    assert full.returncode == 1, full.stdout + full.stderr
    assert outcomes(full.stdout) == {
        "test_right_gradient": "PASSED",
        "test_wrong_gradient": "FAILED",
        "test_planted_bug_is_caught": "PASSED",
        "test_pinned_full": "PASSED",
        "test_result_comparison_explains_itself": "FAILED",
        "test_no_fixture_no_marker": "PASSED",
    }, full.stdout


def test_a_failing_gradient_fails_with_the_block_table(full):
    report = full.stdout.split("test_wrong_gradient ___")[1].split("___ test_")[0]
    assert "check_gradient did not pass" in report
    assert "FAILED — wrong in b" in report and "blocks: W great, b wrong" in report
    assert "per block:" in report and "worst coordinates:" in report
    assert "Traceback" not in report and "def test_wrong_gradient" not in report  # no traceback, the table


def test_a_comparison_with_a_result_shows_its_table(full):
    report = full.stdout.split("test_result_comparison_explains_itself ___")[1]
    assert "<CheckResult FAILED" in report and "per block:" in report


def test_screen_runs_the_screening_check():
    res = run_project("--gradcheck=screen", "-k", "right_gradient or wrong_gradient or pinned or caught")
    assert res.returncode == 1, res.stdout + res.stderr
    assert outcomes(res.stdout) == {"test_right_gradient": "PASSED", "test_wrong_gradient": "FAILED",
                                    "test_pinned_full": "PASSED", "test_planted_bug_is_caught": "PASSED"}
    report = res.stdout.split("test_wrong_gradient ___")[1]
    assert "--gradcheck=screen: a screen:" in report and "FAILED — wrong in b" in report, report


def _screened(grad_fn, expect="pass"):
    from fastcheck.testing.plugin import GradCheck

    check = GradCheck("screen")
    theta = np.linspace(-0.5, 0.7, BIG.size)
    return check(_big_cost, theta, grad_fn, layout=BIG, jit=False, expect=expect), check


BIG = fastcheck.Layout.from_shapes({"W": (40, 10), "b": (10,)})
_XB = np.linspace(-1.0, 1.0, 5 * 40).reshape(5, 40)


def _big_cost(theta):
    p = BIG.unflatten(theta)
    return float(np.sum(np.tanh(_XB @ p["W"] + p["b"]) ** 2))


def _big_grad(theta):
    p = BIG.unflatten(theta)
    a = np.tanh(_XB @ p["W"] + p["b"])
    d = 2 * a * (1 - a**2)
    return BIG.flatten({"W": _XB.T @ d, "b": d.sum(axis=0)})


def test_screen_depth_is_the_screening_check_with_its_resolution():
    result, _ = _screened(_big_grad)
    assert result.passed and "detectable" in result.blocks.columns
    assert result.n_evals < BIG.size       # group tests: fewer evaluations than coordinates
    assert np.all(np.isfinite(result.blocks["detectable"])) and np.all(result.blocks["detectable"] > 0)


def test_screen_depth_finds_one_wrong_coordinate():
    def wrong(theta):
        g = _big_grad(theta)
        g[BIG.block_slice("W")][123] *= 1.01
        return g

    result, _ = _screened(wrong, expect="wrong")
    assert result.failing_blocks == ["W"]
    worst = result.worst(1)
    assert worst["block"].iloc[0] == "W" and worst["index"].iloc[0] == "[12,3]"  # 123 = 12 * 10 + 3


def test_a_test_asking_for_coordinates_keeps_them_under_screen():
    from fastcheck.testing.plugin import GradCheck

    theta = np.linspace(-0.5, 0.7, BIG.size)
    result = GradCheck("screen")(_big_cost, theta, _big_grad, layout=BIG, jit=False, coords=[0, 5])
    assert "detectable" not in result.blocks.columns and len(result.coords) == 2


def test_off_skips_the_gradient_checks_but_not_a_pinned_one():
    res = run_project("--gradcheck=off")
    got = outcomes(res.stdout)
    assert got["test_right_gradient"] == got["test_wrong_gradient"] == "SKIPPED"
    assert got["test_pinned_full"] == "PASSED" and got["test_no_fixture_no_marker"] == "PASSED"
    assert res.returncode == 0, res.stdout


def test_the_marker_selects_the_fixture_users():
    res = run_project("-m", "not gradcheck")
    assert outcomes(res.stdout) == {"test_no_fixture_no_marker": "PASSED"}, res.stdout


def test_the_entry_point_is_declared():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["entry-points"]["pytest11"] == {"fastcheck": "fastcheck.testing.plugin"}


def test_the_fixture_has_check_gradients_signature():
    import inspect

    from fastcheck.testing.plugin import GradCheck

    sig = inspect.signature(GradCheck())
    ours = [n for n in sig.parameters if n != "expect"]
    assert ours == list(inspect.signature(fastcheck.check_gradient).parameters)
    assert sig.parameters["expect"].default == "pass"


def test_loading_the_plugin_imports_nothing_heavy():
    code = ("import sys, fastcheck.testing.plugin; "
            "print(sorted(m for m in ('numpy', 'numba', 'pandas', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_assert_gradients_match_carries_the_result():
    theta = np.linspace(-1, 1, 4)
    with pytest.raises(fastcheck.testing.GradientCheckFailed) as exc:
        fastcheck.assert_gradients_match(lambda t: float(np.sum(t**3)), theta, 2 * theta, jit=False)
    assert isinstance(exc.value, AssertionError) and not exc.value.result.passed
    assert "per block:" in str(exc.value)


# -- strategies -----------------------------------------------------------------------------------------
LAYOUT = fastcheck.Layout.from_shapes({"W": (3, 2), "b": (2,)})


@settings(max_examples=25, deadline=None)
@given(strategies.thetas(LAYOUT, scale={"W": 2.0, "b": 0.5}, avoid=0.0))
def test_thetas_fit_the_layout(theta):
    assert theta.shape == (LAYOUT.size,) and theta.dtype == np.float64 and np.all(np.isfinite(theta))
    p = LAYOUT.unflatten(theta)
    assert np.all(np.abs(p["W"]) <= 2.0) and np.all(np.abs(p["b"]) <= 0.5)
    assert np.all(np.abs(theta) > 0)


@settings(max_examples=10, deadline=None)
@given(strategies.layouts(max_blocks=3).flatmap(lambda lay: strategies.params(lay, dtype=np.float32)))
def test_params_of_drawn_layouts(params):
    assert all(v.dtype == np.float32 and v.size >= 1 for v in params.values())


@settings(max_examples=5, deadline=None)
@given(strategies.thetas(LAYOUT))
def test_a_drawn_theta_checks(theta):
    fastcheck.assert_gradients_match(lambda t: float(np.sum(np.sin(t))), theta, np.cos, layout=LAYOUT, jit=False,
                                     workers=1)


def test_thetas_refuses_what_is_not_a_layout():
    with pytest.raises(TypeError, match="fastcheck.Layout"):
        strategies.thetas({"W": (2, 2)})
    with pytest.raises(ValueError, match="scale names blocks"):
        strategies.thetas(LAYOUT, scale={"nope": 1.0})
