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

#: Packages (and the top-level modules) by layer; every module of a package has its package's rank, and
#: imports inside one package must form no cycle (test_no_import_cycles).
RANKS = {
    # the ground: versions, flags, exceptions
    "fastcheck._version": 0, "fastcheck.config": 0, "fastcheck.errors": 0,
    # the shared vocabulary (layout, steps, validation, options), file/progress/resource helpers, pure kernels
    "fastcheck.core": 1, "fastcheck.support": 1, "fastcheck.kernels": 1,
    # the built-in networks and their structure-aware kernels
    "fastcheck.models": 2,
    # what computes perturbed costs: user costs (loop, jit), processes and Dask, stages, built-in networks
    "fastcheck.evaluators": 3,
    # how differences become verdicts: error bars, ladder, kinks, precision, bands
    "fastcheck.verdicts": 4,
    # the check functions and their result
    "fastcheck.checks": 5,
    # the ways users hand their code in: styles, layers, stages, user files, targets
    "fastcheck.inputs": 6,
    # helpers for the users' own test suites
    "fastcheck.testing": 7,
    # what can be checked by name; the sweeps; the report; the public API; the command line
    "fastcheck.problems": 8, "fastcheck.sweep": 9, "fastcheck.report": 10,
    "fastcheck": 11, "fastcheck.cli": 12, "fastcheck.__main__": 13,
}


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
    """The rank of a module: its own entry, else that of the deepest ranked package holding it."""
    parts = module.split(".")
    while parts:
        name = ".".join(parts)
        if name in RANKS and (name != "fastcheck" or module == "fastcheck"):  # a new top-level module needs its own rank
            return RANKS[name]
        parts.pop()
    raise KeyError(module)


def _ranked(module: str) -> bool:
    try:
        _rank(module)
    except KeyError:
        return False
    return True


def test_every_module_has_a_layer():
    missing = sorted(m for m in GRAPH if not _ranked(m))
    assert not missing, f"give these modules a rank in tests/test_layering.py: {missing}"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down(module):
    if not _ranked(module):
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
