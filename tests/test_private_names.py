"""No private name crosses a module of the package: what another module needs is public.

Read from the source with :mod:`ast`.  A module may not

* import a private name from another fastcheck module (``from fastcheck.x import _name``);
* read or write a private attribute of another fastcheck module (``errorbars._scale``);
* reach a private attribute of an object whose class lives elsewhere (``problem._cache``): an
  ``obj._name`` (``obj`` not ``self``/``cls``) whose ``_name`` is defined only in other modules
  of the package (as a function, method, class, class attribute, ``self._name`` or module global).

Dunder names (``__version__``, ``__dict__``) are public protocol and allowed.
"""
import ast
from pathlib import Path

from .test_layering import PACKAGE, ROOT, _module_name

SOURCES = sorted(PACKAGE.rglob("*.py"))


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _is_package_module(dotted: str) -> bool:
    p = ROOT.joinpath(*dotted.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def _absolute(path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _defined(tree) -> set:
    """Private names a module defines: functions, classes, class attributes, ``self._x`` and globals."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                for sub in ast.walk(t):
                    if isinstance(sub, ast.Name):
                        names.add(sub.id)
                    elif isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id in (
                            "self", "cls"):
                        names.add(sub.attr)
    return {n for n in names if _private(n)}


TREES = {_module_name(p): (p, ast.parse(p.read_text())) for p in SOURCES}
DEFINED = {m: _defined(tree) for m, (_, tree) in TREES.items()}


def _crossings(module: str) -> list:
    path, tree = TREES[module]
    found = []
    modules = {}  # local name -> fastcheck module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _absolute(path, node)
            if source.split(".")[0] != "fastcheck":
                continue
            for alias in node.names:
                if _private(alias.name):
                    found.append(f"line {node.lineno}: from {source} import {alias.name}")
                elif _is_package_module(f"{source}.{alias.name}"):
                    modules[alias.asname or alias.name] = f"{source}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "fastcheck":
                    if any(_private(part) for part in alias.name.split(".")[1:]) and alias.name != "fastcheck._version":
                        found.append(f"line {node.lineno}: import {alias.name}")
                    if alias.asname:
                        modules[alias.asname] = alias.name
    own = DEFINED[module]
    elsewhere = set().union(*(names for m, names in DEFINED.items() if m != module))
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and _private(node.attr)):
            continue
        holder = node.value
        if isinstance(holder, ast.Name) and holder.id in modules and modules[holder.id] != module:
            found.append(f"line {node.lineno}: {holder.id}.{node.attr} (module {modules[holder.id]})")
        elif isinstance(holder, ast.Name) and holder.id in ("self", "cls"):
            continue
        elif node.attr not in own and node.attr in elsewhere:
            where = sorted(m for m, names in DEFINED.items() if node.attr in names and m != module)
            found.append(f"line {node.lineno}: {ast.unparse(node)} (defined in {', '.join(where)})")
    return found


def test_no_private_name_crosses_modules():
    crossings = {m: c for m in sorted(TREES) if (c := _crossings(m))}
    assert not crossings, ("private names used across modules (make them public, or give the owner a method):\n"
                           + "\n".join(f"{m}: {c}" for m, cs in crossings.items() for c in cs))


def test_the_rule_catches_what_it_names():
    """The three kinds of reach issue 20 found (a module's private function, an imported private name,
    another class's private attribute) are each caught."""
    probe = ast.parse("from fastcheck.verdicts import errorbars\nerrorbars._scale(1)\n")
    TREES["fastcheck._probe"] = (PACKAGE / "_probe.py", probe)
    DEFINED["fastcheck._probe"] = set()
    try:
        assert any("errorbars._scale" in c for c in _crossings("fastcheck._probe"))
        TREES["fastcheck._probe"] = (PACKAGE / "_probe.py", ast.parse(
            "from fastcheck.evaluators.sequential import _x\ndef f(problem):\n    problem._cache[1] = 2\n"))
        DEFINED["fastcheck._probe"] = set()
        DEFINED["fastcheck._other"] = {"_cache"}
        found = _crossings("fastcheck._probe")
        assert any("import _x" in c for c in found) and any("problem._cache" in c for c in found)
    finally:
        for m in ("fastcheck._probe", "fastcheck._other"):
            TREES.pop(m, None)
            DEFINED.pop(m, None)
