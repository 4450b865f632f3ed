"""Readable output: results and their tables print in full, in text and in HTML (issue 27, items 2 and 6)."""
import pickle
import re

import numpy as np
import pandas as pd
import pytest

import fastcheck
from fastcheck.checks.table import Table, format_table

LAYOUT = fastcheck.Layout.from_shapes({"weights_of_the_first_layer": (3, 2), "b": (2,)})


def _cost(t):
    return float(np.sum(np.sin(t) * t))


def _grad(t):
    return np.cos(t) * t + np.sin(t)


@pytest.fixture(scope="module")
def failed():
    theta = np.linspace(-1.0, 1.0, LAYOUT.size)
    bad = _grad(theta)
    bad[-1] += 0.5
    return fastcheck.check_gradient(_cost, theta, bad, layout=LAYOUT, jit=False, workers=1)


@pytest.fixture(scope="module")
def passed():
    theta = np.linspace(-1.0, 1.0, LAYOUT.size)
    return fastcheck.check_gradient(_cost, theta, _grad, layout=LAYOUT, jit=False, workers=1)


def test_tables_are_tables_and_dataframes(failed):
    for table in (failed.blocks, failed.worst(3), failed.kinks):
        assert isinstance(table, Table) and isinstance(table, pd.DataFrame)
    assert isinstance(failed.blocks[["block", "verdict"]], Table)  # slices keep the type
    assert failed.blocks["block"].tolist() == ["weights_of_the_first_layer", "b"]
    again = pickle.loads(pickle.dumps(failed))
    assert isinstance(again.blocks, Table) and again.failing_blocks == failed.failing_blocks


@pytest.mark.parametrize("columns", ["40", "80", "200"])
def test_print_blocks_and_worst_show_every_column_and_number(failed, columns, monkeypatch):
    monkeypatch.setenv("COLUMNS", columns)
    for frame in (failed.blocks, failed.worst(3)):
        text = str(frame)
        assert "..." not in text and "…" not in text
        for col in frame.columns:
            assert col in text, (col, text)
        for v in frame.select_dtypes("number").to_numpy().ravel():
            shown = f"{v:.2e}" if isinstance(v, float) else str(v)
            assert shown in text or f"{v:.6g}" in text, (v, text)
        widest = max(len(line) for line in text.splitlines())
        longest_cell = max(len(c) for c in re.split(r"\s{2,}", text))
        assert widest <= max(int(columns), longest_cell + 2 + len("weights_of_the_first_layer")), text


def test_wide_tables_continue_below_repeating_the_first_column(failed):
    text = format_table(failed.worst(2), width=40)
    sections = text.split("\n\n")
    assert len(sections) > 1 and all(s.splitlines()[0].startswith("block") for s in sections)
    assert all(len(line) <= 40 for line in text.splitlines())
    assert len(format_table(failed.worst(2), width=10_000).split("\n\n")) == 1


def test_summary_leads_with_the_verdict_and_the_blocks(failed, passed):
    assert failed.summary().startswith("FAILED — wrong in b")
    assert failed.summary().endswith("· blocks: weights_of_the_first_layer great, b wrong")
    assert passed.summary().startswith("PASSED — great")
    assert str(failed).splitlines()[0] == failed.summary()
    assert repr(failed) == f"<CheckResult {failed.summary()}>" and "\n" not in repr(failed)


def test_to_string_holds_the_tables_and_worst_on_request(failed, passed):
    text = failed.to_string()
    assert "per block:" in text and "worst coordinates:" in text and "look at the backprop of: b" in text
    assert text == str(failed)
    assert "worst coordinates:" not in passed.to_string()
    assert "worst coordinates:" in passed.to_string(worst=3)


def test_many_blocks_are_summarised_not_listed_forever():
    layout = fastcheck.Layout.from_shapes({f"p{i}": (1,) for i in range(30)})
    res = fastcheck.check_gradient(_cost, np.linspace(0.1, 1, 30), _grad, layout=layout, jit=False, workers=1)
    assert res.summary().endswith("… 18 more (18 great)")


def test_html_is_a_real_table_with_the_verdict_coloured(failed, passed):
    html = failed._repr_html_()
    assert html.count("<table") >= 2 and "<pre>" not in html   # blocks and worst coordinates
    assert "color:#cf222e" in html and "FAILED — wrong in b" in html
    assert ">weights_of_the_first_layer</td>" in html and "worst coordinates" in html
    assert "color:#1a7f37" in passed._repr_html_()


def test_html_lists_kinks():
    # the README's plain-NumPy ReLU layer: one pre-activation 1e-7 below its corner, a kink, listed apart
    rng = np.random.default_rng(0)
    X, W, v = rng.standard_normal((5, 3)), rng.standard_normal((3, 4)), np.arange(1.0, 5.0)
    b = rng.standard_normal(4)
    b[0] = -(X[0] @ W[:, 0]) - 1e-7
    layout = fastcheck.Layout.from_arrays({"W": W, "b": b})

    def cost(t):
        p = layout.unflatten(t)
        return np.sum(np.maximum(X @ p["W"] + p["b"], 0.0) @ v)

    def grad(t):
        p = layout.unflatten(t)
        d = (X @ p["W"] + p["b"] > 0) * v
        return layout.flatten({"W": X.T @ d, "b": d.sum(axis=0)})

    res = fastcheck.check_gradient(cost, layout.flatten({"W": W, "b": b}), grad, layout=layout, jit=False, workers=1)
    assert len(res.kinks) and res.passed
    html = res._repr_html_()
    assert "kinks" in html and html.count("<table") >= 3
    assert "kink of the cost" in str(res)
