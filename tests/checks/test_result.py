"""CheckResult: the worst coordinates, the tidy row, the JSON form and the headline agree with the numbers."""
import json

import numpy as np
import pytest

import fastcheck as fc


def _cost(t):
    return float(np.sum(t**3) / 3.0 + 0.5 * t[0] * t[-1])


def _grad(t):
    g = t**2
    g[0] += 0.5 * t[-1]
    g[-1] += 0.5 * t[0]
    return g


@pytest.fixture(scope="module")
def results():
    theta = np.linspace(0.5, 2.0, 10)
    layout = {"W": np.zeros((2, 3)), "b": np.zeros(4)}
    good = fc.check_gradient(_cost, theta, _grad, layout=layout, workers=1, jit=False)
    bad_g = _grad(theta)
    bad_g[7] *= 1.01  # block b, index [1]
    bad = fc.check_gradient(_cost, theta, bad_g, layout=layout, workers=1, jit=False)
    return theta, good, bad


def test_worst_names_the_planted_coordinate_by_block_and_index(results):
    _, _, bad = results
    w = bad.worst(3)
    top = w.iloc[0]
    assert (top["block"], top["index"]) == ("b", "[1]")
    assert top["analytic"] == pytest.approx(bad.analytic[7]) and top["numerical"] == pytest.approx(bad.numerical[7])
    assert top["status"] == "wrong" and top["abs_err"] == pytest.approx(abs(bad.analytic[7] - bad.numerical[7]))
    rest = list(w["abs_err"])[1:]  # wrong ones first, then by error
    assert rest == sorted(rest, reverse=True)


def test_the_difference_is_the_recipes_relative_norm(results):
    _, good, bad = results
    for r in (good, bad):
        expected = np.linalg.norm(r.analytic - r.numerical) / (np.linalg.norm(r.analytic) + np.linalg.norm(r.numerical))
        assert r.difference == pytest.approx(expected, rel=1e-12)


def test_frame_dict_and_headline_say_the_same_verdict(results):
    _, good, bad = results
    for r in (good, bad):
        row = r.to_frame().iloc[0]
        d = json.loads(json.dumps(r.to_dict()))  # plain JSON values only
        assert row["verdict"] == d["verdict"] == r.verdict
        assert ("PASSED" in r.headline()) == r.passed
    assert bad.failing_blocks == ["b"] and bad.wrong_blocks == ["b"] and not bad.passed
    assert good.failing_blocks == [] and good.passed
    assert list(good.blocks["block"]) == ["W", "b"] and good.blocks["checked"].sum() == 10


def test_compile_time_is_shown_apart_from_the_checks_time_and_in_the_json(results):
    import dataclasses

    _, good, _ = results
    assert good.compile_seconds == 0.0 and "compiling" not in good.stats_line()
    r = dataclasses.replace(good, seconds=0.05, compile_seconds=8.1, compile_note="cached for next time")
    assert " 0.05 s + 8.1 s compiling, cached for next time on " in r.stats_line()
    d = r.to_dict()
    assert (d["seconds"], d["compile_seconds"], d["compile_note"]) == (0.05, 8.1, "cached for next time")
    loaded = dataclasses.replace(r, compile_seconds=0.3, compile_note="loaded from the cache")
    assert " 0.05 s + 0.3 s loading compiled code on " in loaded.stats_line()
    user = dataclasses.replace(r, compile_seconds=1.5, compile_note="")  # a user's cost: compiled, not cached
    assert user.stats_line().count("compiling") == 1 and "cached" not in user.stats_line()
