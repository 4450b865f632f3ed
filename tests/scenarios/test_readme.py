"""Every ```python block of the README runs (so the guide cannot rot), and prints readable output."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
#: Optional dependencies some blocks import (check_torch, check_jax): those blocks skip without them.
OPTIONAL = ("torch", "jax")
#: Blocks that are a test file for pytest (first line "# test_*.py"): run by pytest with the plugin.
TEST_FILES = [i for i, b in enumerate(BLOCKS) if re.match(r"# test_\w+\.py\n", b)]


def test_readme_has_snippets():
    assert len(BLOCKS) >= 5 and TEST_FILES


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_snippet_runs(index, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")   # as piped output, or a narrow terminal
    code = BLOCKS[index]
    for framework in OPTIONAL:  # a block that uses an optional framework runs where it is installed
        if re.search(rf"^(import|from) {framework}\b", code, flags=re.M):
            pytest.importorskip(framework)
    exec(compile(code, f"README.md[python block {index}]", "exec"), {"__name__": f"readme_{index}"})
    out = capsys.readouterr().out
    # readable: nothing hidden behind pandas' "..." or cut with "…"
    assert "..." not in out and "…" not in out, out


@pytest.mark.parametrize("index", TEST_FILES)
def test_readme_test_file_passes_under_the_plugin(index, tmp_path):
    name = re.match(r"# (test_\w+\.py)\n", BLOCKS[index]).group(1)
    (tmp_path / name).write_text(BLOCKS[index])
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-m", "pytest", "-p", "fastcheck.testing.plugin", "-p", "no:cacheprovider",
                          "-q", "--rootdir", str(tmp_path), str(tmp_path / name)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert re.search(r"\b3 passed\b", res.stdout), res.stdout
