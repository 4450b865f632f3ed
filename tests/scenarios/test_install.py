"""What an install holds and leaves behind (issue 27, items 1 and 7): Numba's cache outside the package,
a light ``import fastcheck``, ``py.typed``, the license field, the CI step that runs the Quick start."""
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def python(code, env=None, cwd=ROOT):
    env = {**os.environ, **(env or {})}
    for key in [k for k, v in env.items() if v is None]:
        del env[key]
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=True).stdout


LOCATOR = """
    import fastcheck.models.functions as f   # a cached fastcheck function, its locator chosen when decorated
    from numba.core.dispatcher import Dispatcher
    disp = next(v for v in vars(f).values() if isinstance(v, Dispatcher) and v._cache.__class__.__name__ != "NullCache")
    loc = disp._cache._impl.locator
    print(type(loc).__name__)
    print(loc.get_cache_path())
"""


def test_fastcheck_caches_its_compiled_code_in_the_user_cache_dir(tmp_path):
    out = python(LOCATOR, {"FASTCHECK_CACHE_DIR": str(tmp_path / "cache"), "NUMBA_CACHE_DIR": None}).split("\n")
    assert out[0] == "FastcheckCacheLocator"
    assert out[1].startswith(str(tmp_path / "cache")), out
    assert not out[1].startswith(str(ROOT / "fastcheck"))


def test_the_default_cache_dir_is_the_platform_user_cache(tmp_path):
    out = python(LOCATOR, {"XDG_CACHE_HOME": str(tmp_path / "xdg"), "FASTCHECK_CACHE_DIR": None,
                           "NUMBA_CACHE_DIR": None}).split("\n")
    assert out[1].startswith(str(tmp_path / "xdg" / "fastcheck" / "numba")), out


def test_a_numba_cache_dir_the_user_set_wins_and_keeps_the_package_stamp(tmp_path):
    # the place is the user's; the validation stays fastcheck's (the whole package's stamp): Numba's own
    # locator checks only the file a kernel is defined in and would keep running callees of another file
    # that has changed since
    out = python(LOCATOR + "    import fastcheck.config as c; print(loc.get_source_stamp() == c.package_stamp())\n",
                 {"NUMBA_CACHE_DIR": str(tmp_path / "mine"), "FASTCHECK_CACHE_DIR": None}).split("\n")
    assert out[0] == "FastcheckCacheLocator" and out[1].startswith(str(tmp_path / "mine")), out
    assert out[2] == "True"


def test_a_users_own_cached_function_keeps_numbas_rules(tmp_path):
    (tmp_path / "mine.py").write_text("from numba import njit\n\n@njit(cache=True)\ndef f(x):\n    return x + 1\n")
    out = python("""
        import sys; sys.path.insert(0, sys.argv[-1] if False else '.')
        import fastcheck.config, mine
        print(type(mine.f._cache._impl.locator).__name__)
    """, {"NUMBA_CACHE_DIR": None, "PYTHONPATH": str(tmp_path)}, cwd=tmp_path)
    assert out.strip() == "InTreeCacheLocator"


def test_import_fastcheck_loads_no_numba_pandas_or_plots():
    out = python("""
        import sys, fastcheck
        print(sorted(m for m in ("numba", "pandas", "pyarrow", "matplotlib", "scipy", "rich") if m in sys.modules))
        from fastcheck import check_gradient, CheckResult, Layout   # the first use brings NumPy and Numba ...
        print(sorted(m for m in ("pandas", "pyarrow", "matplotlib") if m in sys.modules))   # ... but no tables yet
        import fastcheck.models, fastcheck.sweep
        print(fastcheck.check_gradient is check_gradient, "MLP" in dir(fastcheck.models), "check_model" in dir(fastcheck))
    """).split("\n")
    assert out[:3] == ["[]", "[]", "True True True"], out


def test_every_public_name_resolves():
    import fastcheck

    for name in fastcheck.__all__:
        assert getattr(fastcheck, name) is not None, name
    assert set(fastcheck.__all__) <= set(dir(fastcheck))


def test_py_typed_ships_and_the_license_is_an_spdx_string():
    assert (ROOT / "fastcheck" / "py.typed").exists()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["fastcheck"]
    assert PYPROJECT["project"]["license"] == "MIT"
    requires = PYPROJECT["build-system"]["requires"]
    assert any(re.fullmatch(r"setuptools>=(\d+)", r) and int(r.split(">=")[1]) >= 77 for r in requires)


def test_the_built_wheel_holds_py_typed_and_an_spdx_license(tmp_path):
    # build the wheel from a copy of the sources (a build in the checkout would leave build/ and *.egg-info),
    # offline, with the installed setuptools: what `pip install .` ships
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip(f"setuptools {setuptools.__version__} predates SPDX license strings (77)")
    src = tmp_path / "src"
    shutil.copytree(ROOT / "fastcheck", src / "fastcheck", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    build = "import sys, setuptools.build_meta as b; print(b.build_wheel(sys.argv[1]))"
    proc = subprocess.run([sys.executable, "-W", "always", "-c", build, str(tmp_path / "dist")], cwd=src,
                          capture_output=True, text=True, timeout=300, check=True)
    wheel = tmp_path / "dist" / proc.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "fastcheck/py.typed" in names and "fastcheck/sweep/result.py" in names
    assert not any("__pycache__" in n for n in names)
    assert "License-Expression: MIT" in meta.splitlines()
    assert "project.license" not in proc.stderr and "License classifiers are deprecated" not in proc.stderr, proc.stderr


def test_ci_runs_the_quick_start_as_printed():
    run = (ROOT / ".ci" / "run").read_text()
    assert "bash .ci/quickstart" in run
    quick = (ROOT / ".ci" / "quickstart").read_text()
    assert '"## Quick start"' in quick and "bash -euxo pipefail" in quick
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", readme.split("## Quick start", 1)[1], flags=re.S).group(1)
    lines = [ln for ln in block.splitlines() if ln.strip()]
    assert any(re.match(r'pip install "\.\[\w+\]"', ln) for ln in lines)          # a non-editable install ...
    assert any(ln.startswith('pip install -e ".[dev]"') and "python -m pytest" in ln for ln in lines)  # ... then the tests
