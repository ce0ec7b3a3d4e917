"""The import graph of the two packages, read from the sources with ``ast`` (nothing is imported).

Counted imports:

- **cycles**: module-level imports only -- statements executed when the module is imported (in
  the module body, also inside ``if`` / ``try`` / ``with`` blocks and class bodies), except those
  under ``if TYPE_CHECKING:``. Imports inside functions run later and are the accepted way to
  reach a heavy or optional dependency, so they are not edges of this graph. ``import a.b`` is an
  edge to ``a.b`` (not to the package ``a``): a package importing its own submodules in its
  ``__init__`` is no cycle.
- **layering** (``embeddings`` never imports ``recall``; ``recall`` imports no private
  ``embeddings._x`` module): every import anywhere in the file, function bodies included.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("embeddings", "recall")


@dataclass(frozen=True)
class Edge:
    src: str  # importing module
    dst: str  # imported module (dotted name, as written and resolved)
    line: int
    module_level: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def package_sources() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        for f in sorted((REPO / pkg).rglob("*.py")):
            out[module_name(f)] = f
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import node with whether it runs at import time (see the module docstring)."""
    found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def visit(node: ast.AST, eager: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append((child, eager))
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, False)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for sub in child.body:
                    visit(ast.Module(body=[sub], type_ignores=[]), False)
                for sub in child.orelse:
                    visit(ast.Module(body=[sub], type_ignores=[]), eager)
            else:
                visit(child, eager)

    visit(tree, True)
    return found


def _resolve(name: str, known: set[str]) -> str:
    """The longest prefix of ``name`` that is one of our modules (``name`` itself if none)."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        cand = ".".join(parts[:i])
        if cand in known:
            return cand
    return name


def import_edges(sources: dict[str, Path] | None = None) -> list[Edge]:
    sources = package_sources() if sources is None else sources
    known = set(sources)
    edges: list[Edge] = []
    for mod, path in sources.items():
        is_pkg = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, eager in _imports(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:  # relative: from the importing module's package
                    pkg = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    pkg = pkg[: len(pkg) - (node.level - 1)]
                    base = ".".join([*pkg, base] if base else pkg)
                # ``from a import b``: the module a.b when it is one, else a itself
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
                ]
            for t in dict.fromkeys(targets):
                if t.split(".")[0] in PACKAGES:
                    edges.append(Edge(mod, _resolve(t, known), node.lineno, eager))
    return edges


def find_cycles(edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components of more than one module (or a module importing itself)."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.src, set()).add(e.dst)
        graph.setdefault(e.dst, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def strong(v: str) -> None:  # Tarjan; the graph is small, recursion is fine
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph[v]:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return sorted(out)


def _where(edges: list[Edge], mods: set[str]) -> str:
    return "; ".join(
        f"{e.src}:{e.line} -> {e.dst}" for e in edges if e.src in mods and e.dst in mods
    )


# ------------------------------------------------------------------------------ the checker itself
def _write(root: Path, files: dict[str, str]) -> dict[str, Path]:
    out = {}
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    for rel in files:
        parts = list(Path(rel).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = root / rel
    return out


def test_checker_sees_cycles_lazy_imports_and_relative_imports(tmp_path):
    src = _write(
        tmp_path,
        {
            "recall/__init__.py": "from recall.a import f\n",
            "recall/a.py": "from . import b\ndef f():\n    from recall import c\n",
            "recall/b.py": "import numpy\ntry:\n    from recall.a import f\nexcept ImportError:\n"
            "    pass\n",
            "recall/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from recall.a import f\nfrom recall.d import g\n",
            "recall/d.py": "class K:\n    from recall import c\n",
        },
    )
    edges = import_edges(src)
    eager = [e for e in edges if e.module_level]
    assert {(e.src, e.dst) for e in eager} == {
        ("recall", "recall.a"),
        ("recall.a", "recall.b"),
        ("recall.b", "recall.a"),
        ("recall.c", "recall.d"),
        ("recall.d", "recall.c"),
    }
    assert ("recall.a", "recall.c") in {(e.src, e.dst) for e in edges if not e.module_level}
    assert find_cycles(eager) == [["recall.a", "recall.b"], ["recall.c", "recall.d"]]


# ------------------------------------------------------------------------------ the packages
def test_no_import_cycles():
    edges = [e for e in import_edges() if e.module_level]
    cycles = find_cycles(edges)
    assert not cycles, "import cycles (module-level imports): " + " | ".join(
        _where(edges, set(c)) for c in cycles
    )


def test_no_import_cycles_even_through_function_level_imports():
    edges = import_edges()
    cycles = find_cycles(edges)
    assert not cycles, "import cycles (all imports): " + " | ".join(
        _where(edges, set(c)) for c in cycles
    )


def test_embeddings_never_imports_recall():
    bad = [
        f"{e.src}:{e.line} imports {e.dst}"
        for e in import_edges()
        if e.src.split(".")[0] == "embeddings" and e.dst.split(".")[0] == "recall"
    ]
    assert not bad, bad


def _private(name: str) -> bool:
    return any(p.startswith("_") and not p.startswith("__") for p in name.split("."))


def test_recall_imports_no_private_embeddings_module():
    bad = [
        f"{e.src}:{e.line} imports {e.dst}"
        for e in import_edges()
        if e.src.split(".")[0] == "recall"
        and e.dst.split(".")[0] == "embeddings"
        and _private(e.dst)
    ]
    assert not bad, bad
