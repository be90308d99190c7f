"""The import structure: no cycles anywhere in the package, function-level imports included.

``make test`` also runs import-linter (``.importlinter``) for the layer order; this test
checks what a layer contract cannot, that no two modules import each other through any
chain, and that the workloads (outside the tree import-linter scans) import no hwsim module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import networkx as nx

ROOT = Path(__file__).resolve().parents[1]


def test_no_import_cycles_in_the_package() -> None:
    graph = grimp.build_graph("hwsim")
    dag = nx.DiGraph()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            dag.add_edge(module, imported)
    cycles = list(nx.simple_cycles(dag, length_bound=8))
    assert cycles == [], f"import cycles: {cycles[:5]}"


def test_a_cycle_would_be_seen(tmp_path: Path) -> None:
    """The check above is not vacuous: a function-level import that closes a loop is found
    by the same graph walk (built here on a two-module package)."""
    pkg = tmp_path / "cyclepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from . import a\n    return a\n")
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        graph = grimp.build_graph("cyclepkg", cache_dir=None)
    finally:
        sys.path.remove(str(tmp_path))
    dag = nx.DiGraph(
        (m, i) for m in graph.modules for i in graph.find_modules_directly_imported_by(m)
    )
    assert list(nx.simple_cycles(dag)) != []


def test_workloads_import_no_hwsim_module() -> None:
    for path in sorted((ROOT / "workloads").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level >= 2:
                raise AssertionError(f"{path.name} imports from the hwsim package above it")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hwsim"):
                raise AssertionError(f"{path.name} imports {node.module}")
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("hwsim") for a in node.names), path.name
