"""A sweep's table in a notebook (issue 27, item 6): its figure inline as a PNG, then its tables.

The costs are plain NumPy (``jit=False``): nothing here compiles.
"""
import base64
import re
import struct
import sys

import numpy as np
import pandas as pd
import pytest

from fastcheck.problems import get_problem
from fastcheck.sweep import SweepTable, eps_sweep, fit_orders, hessian_eps_sweep, size_sweep

THETA = np.linspace(-1.0, 1.0, 6)
EPS = [10.0 ** -k for k in range(13)]


def cost(t):
    return np.sum(np.exp(t) * np.sin(t))


def grad(t):
    return np.exp(t) * (np.sin(t) + np.cos(t))


def png_of(html: str) -> bytes:
    """The PNG an HTML view embeds (exactly one)."""
    found = re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(found) == 1, html[:500]
    png = base64.b64decode(found[0])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return png


def png_size(png: bytes) -> tuple:
    """(width, height) in pixels, from the PNG's IHDR chunk."""
    assert png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


@pytest.fixture(scope="module")
def eps_df():
    return eps_sweep((cost, THETA, grad), eps=EPS, schemes=("forward", "central"), dtypes=("float64",), jit=False)


def test_an_eps_sweep_is_a_dataframe_that_shows_its_v_and_fitted_orders(eps_df):
    pytest.importorskip("matplotlib")
    assert isinstance(eps_df, SweepTable) and isinstance(eps_df, pd.DataFrame) and len(eps_df) == 2 * len(EPS)
    html = eps_df._repr_html_()
    # one panel (one problem, one dtype) of 5.2 x 4.0 inches at 110 dpi: the V of fastcheck.report's eps_error.png
    assert png_size(png_of(html)) == (572, 440)
    fits = fit_orders(pd.DataFrame(eps_df))
    np.testing.assert_allclose(fits["truncation_slope"], [1.0, 2.0], atol=0.2)   # forward O(ε), central O(ε²)
    shown = html.split("fitted orders", 1)[1]
    for f in fits.itertuples():   # every fitted slope, best ε and floor is in the table, as the text tables show them
        assert f">{f.truncation_slope:.4g}</td>" in shown and f">{f.best_eps:.2e}</td>" in shown
        assert f">{f.floor:.2e}</td>" in shown
    assert html.count("<table") >= 2 and f"all {len(eps_df)} rows" in html   # the fits, then pandas' own rows
    assert "points without a result" not in html   # every point has one


def test_slices_are_plain_dataframes_and_the_numbers_are_pandas_own(eps_df):
    assert type(eps_df[eps_df["scheme"] == "central"]) is pd.DataFrame
    assert type(eps_df.copy()) is pd.DataFrame and type(pd.concat([eps_df, eps_df])) is pd.DataFrame
    assert eps_df.attrs["kind"] == "eps" and eps_df.attrs["schemes"] == ["forward", "central"]
    pd.testing.assert_frame_equal(fit_orders(eps_df), fit_orders(pd.DataFrame(eps_df)))


def test_without_matplotlib_the_tables_come_alone(eps_df, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)   # `import matplotlib` raises ImportError
    html = eps_df._repr_html_()
    assert "<img" not in html and 'pip install "fastcheck[report]"' in html
    assert "fitted orders" in html and html.count("<table") >= 2


def test_names_are_escaped_and_points_without_a_result_say_why():
    problem = get_problem((cost, THETA, grad), name="<b>bold</b> & co")
    # float32: θ + 1e-12 == θ at every |θ| ≥ 0.2, so the small step is skipped with its reason
    df = eps_sweep(problem, eps=[1e-2, 1e-12], schemes=("central",), dtypes=("float32",), jit=False)
    html = df._repr_html_()
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt; &amp; co" in html
    assert "points without a result" in html and "skipped: eps below float32 resolution" in html
    none = eps_sweep(problem, eps=[1e-12], schemes=("central",), dtypes=("float32",), jit=False)
    html = none._repr_html_()
    assert "nothing to plot" in html and "<img" not in html and "skipped: eps below float32 resolution" in html


def test_a_hessian_sweep_shows_its_v():
    pytest.importorskip("matplotlib")

    def f(t):
        return np.sum(np.cos(t) * t)

    def g(t):
        return np.cos(t) - t * np.sin(t)

    def h(t):
        return np.diag(-2 * np.sin(t) - t * np.cos(t))

    df = hessian_eps_sweep(f, THETA, h, grad=g, eps=EPS, schemes=("central",))
    assert isinstance(df, SweepTable)
    html = df._repr_html_()
    assert png_size(png_of(html)) == (572, 440) and "fitted orders" in html
    slope = fit_orders(pd.DataFrame(df))["truncation_slope"].iloc[0]
    assert abs(slope - 2.0) < 0.2 and f">{slope:.4g}</td>" in html


def test_a_size_sweep_shows_time_against_size():
    pytest.importorskip("matplotlib")
    small = get_problem((cost, THETA, grad), name="n6")
    large = get_problem((cost, np.linspace(-1.0, 1.0, 30), grad), name="n30")
    df = size_sweep([small, large], modes=("blackbox", "sampled"), threads=(1,), repeat=1, sample=2, jit=False)
    assert isinstance(df, SweepTable)
    html = df._repr_html_()
    assert png_size(png_of(html)) == (704, 506)   # the 6.4 x 4.6 inches of fastcheck.report's time_vs_params.png
    shown = html.split("seconds per check", 1)[1]
    for r in df.itertuples():
        assert f">{r.seconds:.4g}</td>" in shown and f">{r.n_params}</td>" in shown


def test_a_report_read_back_shows_its_plot(eps_df, tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("pyarrow")
    from fastcheck.report import load_results, write_report

    write_report(tmp_path, eps_df)
    back, meta = load_results(tmp_path)
    assert isinstance(back, SweepTable) and meta["kind"] == "eps"
    assert png_size(png_of(back._repr_html_())) == (572, 440)
