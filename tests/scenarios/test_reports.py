"""The README's figures agree with the reports they cite, and no report is silently stale (issue 27, item 4).

Each claim below pairs a figure the README prints with the figure in the report it comes from: the test
fails when either is edited (or regenerated) without the other.  A README figure must be the report's
figure rounded to the digits the README prints.
"""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
# the README's prose is wrapped: match across line breaks
FLAT = re.sub(r"\s+", " ", README)

#: (what, README pattern, report file, report pattern[, order]): each pattern's groups are the figures; the
#: report's figures are taken in ``order`` (default: as found) to pair with the README's.
CLAIMS = [
    ("structured 784-128-10 full check", r"MLP 784-128-10 \(batch 64\) takes about ([\d.]+) s, some (\d+) forward passes",
     "reports/structured/README.md", r"\| 784-128-10 \| 101770 \| 2 \| this tree \| [\d.]+ \| ([\d.]+) \| (\d+) "),
    ("structured 784-256-64-10 full check", r"784-256-64-10 is checked in about ([\d.]+) s \(~(\d+) forward passes\)",
     "reports/structured/README.md", r"\| 784-256-64-10 \| 218058 \| 2 \| this tree \| [\d.]+ \| ([\d.]+) \| (\d+) "),
    ("structured 1,000,000 parameters", r"a 1,000,000-parameter MLP in about ([\d.]+) s",
     "reports/structured/README.md", r"\| 784-1260-10 \| 1001710 \| 2 \| this tree \| [\d.]+ \| ([\d.]+) \|"),
    ("user code: serial loop", r"batch 32: ([\d.]+) s, ([\d.]+)× the speed of \*Neural Networks Demystified\*'s "
     r"`computeNumericalGradient` \(([\d.]+) s\)",
     "reports/user-code/README.md", r"\| check_object, workers=1 \[loop\] \| ([\d.]+) \| ([\d.]+)x the tutorial loop"
     r"[\s\S]*?|" r"\| tutorial loop \(computeNumericalGradient, eps 1e-4\) \| ([\d.]+) \|"),
    ("user code: pool", r"the same network: ([\d.]+) s, ([\d.]+)× the tutorial's loop",
     "reports/user-code/README.md", r"\| check_object, default settings \[loop on a pool of 2 processes\] \| ([\d.]+) \| "
     r"([\d.]+)x the tutorial loop"),
    ("user code: Dask", r"\(1 thread each\) ([\d.]+) s against ([\d.]+) s on one worker: ([\d.]+)×",
     "reports/user-code/README.md", r"\| client= 2-worker LocalCluster \| ([\d.]+) \| ([\d.]+)x one worker"
     r"[\s\S]*?|" r"\| client= 1-worker LocalCluster \| ([\d.]+) \|", (0, 2, 1)),
    ("user code: stage caching", r"1,622 parameters: ([\d.]+) s against ([\d.]+) s for the black-box check of the "
     r"composed cost \(([\d.]+)×\), identical numbers; ([\d.]+) s on the pool",
     "reports/user-code/README.md", r"\| check_sequential, workers=1 \| ([\d.]+) \| ([\d.]+)x the black-box loop"
     r"[\s\S]*?|" r"\| black-box check_gradient of the composed cost, workers=1 \| ([\d.]+) \|"
     r"[\s\S]*?|" r"\| check_sequential, default settings \[sequential on a pool of 2 processes\] \| ([\d.]+) \|",
     (0, 2, 1, 3)),
    ("user code: layer list", r"683 parameters;.*?\): ([\d.]+) s against ([\d.]+) s with `cache_stages=False` \(([\d.]+)×\)",
     "reports/user-code/README.md", r"\| check_object, workers=1 \[sequential\] \| ([\d.]+) \| ([\d.]+)x the black-box loop"
     r"[\s\S]*?|" r"\| check_object, cache_stages=False, workers=1 \[loop\] \| ([\d.]+) \|", (0, 2, 1)),
    ("frameworks: (64, 256) LayerNorm-like op", r"\(64, 256\) LayerNorm-like op \(16,896 input coordinates, "
     r"float64\) took ([\d.]+) s on two worker processes, `gradcheck`'s slow mode ([\d.]+) s",
     "reports/frameworks/README.md", r"2 worker processes\) ([\d.]+) s \([\d.]+ s serially\), gradcheck's slow "
     r"mode ([\d.]+) s"),
    ("cold start", r"took ([\d.]+) s in all and `fastcheck demo` ([\d.]+) s",
     "reports/cold-start/README.md", r"\| `fastcheck check --model mlp --sizes 784,128,10[^|]*\| ([\d.]+) \|"
     r"[\s\S]*?|" r"\| `fastcheck demo` \| ([\d.]+) \|"),
    ("activations three layers below the output",
     r"784-256-128-64-10 \(batch 64, 2 threads\) is checked with sigmoid in ([\d.]+) s against ([\d.]+) s for "
     r"the tree before \(3421071\), with relu in ([\d.]+) s against ([\d.]+) s and with relu/tanh/relu/identity "
     r"under softmax cross-entropy in ([\d.]+) s against ([\d.]+) s, every verdict great",
     "reports/activations-deep/README.md", r"\| 784-256-128-64-10 \| sigmoid \| sse \| this tree \| ([\d.]+) \|"
     r"[\s\S]*?|" r"\| 784-256-128-64-10 \| sigmoid \| sse \| 3421071[^|]*\| ([\d.]+) \|"
     r"[\s\S]*?|" r"\| 784-256-128-64-10 \| relu \| sse \| this tree \| ([\d.]+) \|"
     r"[\s\S]*?|" r"\| 784-256-128-64-10 \| relu \| sse \| 3421071[^|]*\| ([\d.]+) \|"
     r"[\s\S]*?|" r"\| 784-256-128-64-10 \| relu/tanh/relu/identity \| softmax_ce \| this tree \| ([\d.]+) \|"
     r"[\s\S]*?|" r"\| 784-256-128-64-10 \| relu/tanh/relu/identity \| softmax_ce \| 3421071[^|]*\| ([\d.]+) \|"),
    ("default eps sweep", r"took a median of ([\d.]+) s on this project's 2-core machine",
     "reports/sweep-bench/README.md", r"\| eps sweep 784-128-10 \\?\(default grid\\?\) \| shared stencil \| ([\d.]+) \|"),
]


def _report_figures(text: str, pattern: str) -> list:
    """The figures of a report pattern; ``|``-joined alternatives are searched one after the other."""
    figures = []
    for part in pattern.split("[\\s\\S]*?|"):
        m = re.search(part, text)
        assert m, f"report pattern not found: {part}"
        figures += list(m.groups())
    return figures


def _agrees(shown: str, value: str) -> bool:
    """``shown`` (the README's) is ``value`` (the report's) rounded to the digits ``shown`` has."""
    digits = len(shown.split(".")[1]) if "." in shown else 0
    return abs(round(float(value), digits) - float(shown)) < 10 ** -(digits + 6)


@pytest.mark.parametrize("what, readme, report, pattern, order", [(*c, None)[:5] for c in CLAIMS],
                         ids=[c[0] for c in CLAIMS])
def test_readme_figures_agree_with_their_reports(what, readme, report, pattern, order):
    m = re.search(readme, FLAT)
    assert m, f"the README no longer says this ({what}): update CLAIMS with it: {readme}"
    figures = _report_figures((ROOT / report).read_text(), pattern)
    if order is not None:
        figures = [figures[i] for i in order]
    assert len(figures) == len(m.groups())
    for shown, value in zip(m.groups(), figures):
        assert _agrees(shown, value), f"{what}: the README says {shown}, {report} says {value}"


def test_every_report_the_readme_links_exists():
    links = re.findall(r"\]\(((?:reports|benchmarks)/[^)#]+)\)", README)
    assert links
    for link in links:
        assert (ROOT / link).exists(), f"README links {link}, which does not exist"


def test_no_report_was_made_by_a_removed_command():
    for path in (ROOT / "reports").rglob("*.md"):
        text = path.read_text()
        assert "fastcheck bench" not in text, f"{path} was made by the removed `fastcheck bench` command"


def test_stale_report_tables_stay_marked():
    # reports/structured's first tables predate the layered kernel; until they are regenerated
    # (bench_structured.py --full-peers --write) the note that says so must stay at the top.
    head = (ROOT / "reports" / "structured" / "README.md").read_text().split("\n## ", 1)[0]
    if "| fastcheck check_model (structured), 2 thread(s) | 101770 | 101770 | 0.141 |" in \
            (ROOT / "reports" / "structured" / "README.md").read_text():
        assert "The first five tables below are stale" in head


def _timing():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_timing", ROOT / "benchmarks" / "timing.py")
    timing = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(timing)
    return timing


def test_rewriting_the_structured_report_keeps_the_sections_other_scripts_wrote():
    # bench_structured.py rewrites reports/structured/README.md; bench_forward_units.py and profile_structured.py
    # each own a marked section of it, which the README's figures come from
    old = (ROOT / "reports" / "structured" / "README.md").read_text()
    sections = [m.group(0) for m in _timing().SECTION.finditer(old)]
    assert [s.split(":", 1)[0] for s in sections] == ["<!-- forward-units", "<!-- profile"]
    text = _timing().keep_sections("# regenerated\n\n| new | table |\n", old)
    assert text.startswith("# regenerated\n\n| new | table |\n\n")
    assert text.index(sections[0]) < text.index(sections[1]) and text.endswith(sections[1] + "\n")
    assert text.count("<!-- forward-units: begin -->") == text.count("<!-- profile: end -->") == 1


def test_benchmarks_write_to_reports_only_with_write(tmp_path, capsys):
    timing = _timing()
    tracked = tmp_path / "reports" / "core"
    tracked.mkdir(parents=True)
    (tracked / "README.md").write_text("tracked\n")
    assert timing.report_dir(True, tracked) == tracked
    out = timing.report_dir(False, tracked)
    assert out != tracked and not str(out).startswith(str(tmp_path / "reports"))
    assert (out / "README.md").read_text() == "tracked\n" and str(out) in capsys.readouterr().out
    scripts = sorted((ROOT / "benchmarks").glob("bench_*.py")) + [ROOT / "benchmarks" / "profile_structured.py"]
    for script in scripts:
        text = script.read_text()
        if '/ "reports" /' in text:  # writes a tracked report: only through report_dir(--write)
            assert "report_dir(" in text and ("add_write_option(" in text), script.name
    assert '"--write"' in (ROOT / "benchmarks" / "peers" / "__main__.py").read_text()
