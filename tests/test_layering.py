"""The package's layout rules, read from the source: every import points down, Numba flags have one owner.

The ranks below are the layers the README's Development section draws.  A
module may import (at module level or inside a function) only modules of a
lower or equal rank, and the imports form no cycle.  A new module must be
given a rank here: the test names it.
"""
import ast
import graphlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fastcheck"

RANKS = {
    # the ground: versions, flags, exceptions
    "fastcheck._version": 0, "fastcheck.config": 0, "fastcheck.errors": 0,
    # small self-contained helpers
    "fastcheck.layout": 1, "fastcheck.files": 1, "fastcheck.resources": 1, "fastcheck.compiled": 1,
    "fastcheck.ladder": 1, "fastcheck.precision": 1, "fastcheck.userfile": 1, "fastcheck.steps": 1,
    "fastcheck.protocol": 1, "fastcheck.progress": 1, "fastcheck.models.mutants": 1, "fastcheck.models.numeric": 1,
    # kernels over flat arrays, validation, verdict pieces
    "fastcheck.kinks": 2, "fastcheck.validate": 2, "fastcheck.kernels": 2, "fastcheck.kernels.stencil": 2,
    "fastcheck.kernels.richardson": 1,
    "fastcheck.models.functions": 2,
    "fastcheck.errorbars": 3, "fastcheck.models.backprop": 3,
    # the built-in networks and their structured kernel; results; the evaluators
    "fastcheck.models.mlp": 4, "fastcheck.models.mutant_backprop": 4, "fastcheck.models.columns": 4,
    "fastcheck.models.layered": 4,
    "fastcheck.result": 4, "fastcheck.pool": 4,
    "fastcheck.models.tutorial": 5, "fastcheck.models": 5, "fastcheck.evaluate": 5,
    # the core check and what builds on it
    "fastcheck.check": 6,
    "fastcheck.structured": 7, "fastcheck.sequential": 7, "fastcheck.layers": 7, "fastcheck.styles": 7,
    "fastcheck.adapters": 7, "fastcheck.stages": 7,
    "fastcheck.testing": 8, "fastcheck.targets": 8,
    # what can be checked by name; the sweeps; the report; the command line
    "fastcheck.problems.problem": 9, "fastcheck.problems.registry": 9, "fastcheck.problems.builtin": 9,
    "fastcheck.problems": 9,
    "fastcheck.sweep.dask": 10, "fastcheck.sweep.schema": 10, "fastcheck.sweep.grid": 10, "fastcheck.sweep.fit": 10,
    "fastcheck.sweep.store": 10, "fastcheck.sweep.measure": 10, "fastcheck.sweep.shared": 10,
    "fastcheck.sweep.engine": 10, "fastcheck.sweep.eps": 10,
    "fastcheck.sweep.size": 10, "fastcheck.sweep": 10,
    "fastcheck.report": 11,
    "fastcheck": 12, "fastcheck.__main__": 13,
}
CLI_RANK = 13  # every module of fastcheck/cli/


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(target: str) -> str:
    """The deepest existing module or package of a dotted name."""
    parts = target.split(".")
    while parts:
        p = ROOT.joinpath(*parts)
        if p.with_suffix(".py").is_file() or (p / "__init__.py").is_file():
            return ".".join(parts)
        parts.pop()
    return target


def _imports(path: Path) -> set:
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "fastcheck":
                for alias in node.names:
                    found.add(_resolve(f"{target}.{alias.name}"))
        elif isinstance(node, ast.Import):
            found.update(_resolve(a.name) for a in node.names if a.name.split(".")[0] == "fastcheck")
    found.discard(name)
    return found


GRAPH = {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def _rank(module: str) -> int:
    return CLI_RANK if module.startswith("fastcheck.cli") else RANKS[module]


def test_every_module_has_a_layer():
    missing = sorted(m for m in GRAPH if not m.startswith("fastcheck.cli") and m not in RANKS)
    assert not missing, f"give these modules a rank in tests/test_layering.py: {missing}"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down(module):
    if not module.startswith("fastcheck.cli") and module not in RANKS:
        pytest.skip("no rank (see test_every_module_has_a_layer)")
    upward = sorted(d for d in GRAPH[module] if d in GRAPH and _rank(d) > _rank(module))
    assert not upward, f"{module} (layer {_rank(module)}) imports from higher layers: {upward}"


def test_no_import_cycles():
    sorter = graphlib.TopologicalSorter({m: {d for d in deps if d in GRAPH} for m, deps in GRAPH.items()})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:  # pragma: no cover - the assertion explains
        pytest.fail(f"import cycle: {exc.args[1]}")


def test_numba_njit_is_spelled_only_in_config():
    spelled = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name == "config.py" and path.parent == PACKAGE:
            continue
        code = "\n".join(line.split("#")[0] for line in path.read_text().splitlines())
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "numba"
                 for a in n.names}
        if "njit" in names or "jit" in names or re.search(r"\bnumba\.n?jit\(", code):
            spelled[_module_name(path)] = True
    assert not spelled, f"numba.njit / numba.jit used outside fastcheck.config (use config.jit): {sorted(spelled)}"


def test_users_never_read_the_word_seeds():
    texts = [ROOT / "README.md", *PACKAGE.rglob("*.py")]
    hits = [str(p.relative_to(ROOT)) for p in texts if re.search(r"seeds", p.read_text(), re.IGNORECASE)]
    assert not hits, f"name the sources by their titles, not 'the seeds': {hits}"
