"""The package's shape: no import cycles among ``src/secllm`` modules, no private name imported across modules.

The import graph is built as a reader sees it (and as ``shared/tools/import_cycles.py`` builds it):
every ``import`` / ``from ... import`` anywhere in a file counts, at module level or inside a
function, relative imports resolved; a module importing a package it lives in is not an edge (the
package's ``__init__`` runs first anyway).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = "secllm"


def _modules() -> dict[str, Path]:
    mods = {}
    for p in sorted((SRC / PKG).rglob("*.py")):
        rel = p.relative_to(SRC).with_suffix("")
        mods[".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)] = p
    return mods


def _imports(name: str, path: Path, mods: dict[str, Path]):
    """``(lineno, imported module, [imported names])`` for every import statement of one module."""
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = name.split(".") if is_pkg else name.split(".")[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                mod = ".".join(parts + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:
                full = f"{mod}.{a.name}"
                # `from pkg import submodule` imports the submodule; `from mod import name` the module
                yield node.lineno, full if full in mods else mod, [] if full in mods else [a.name]


def _owner(target: str, mods: dict[str, Path]) -> str | None:
    while target and target not in mods:
        target = target.rpartition(".")[0]
    return target or None


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        for _, target, _ in _imports(m, p, mods):
            t = _owner(target, mods)
            if t and t != m and t != PKG and t.startswith(PKG + ".") and not m.startswith(t + "."):
                graph[m].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_cycle_finder_finds_a_cycle():
    """The checker itself can fail: a two-module loop and a three-module loop are found, a chain is not."""
    g = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"g"}, "g": set()}
    assert sorted(cycles(g)) == [["a", "b"], ["c", "d", "e"]]


def test_no_import_cycles():
    graph = import_graph()
    assert len(graph) > 50 and graph["secllm.cli.detect"], "the graph was not built"
    found = cycles(graph)
    assert not found, "import cycles in src/secllm:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_no_private_names_imported_across_modules():
    mods = _modules()
    bad = []
    for m, p in mods.items():
        for line, target, names in _imports(m, p, mods):
            if not target.startswith(PKG + ".") and target != PKG:
                continue
            private = [n for n in names if n.startswith("_") and not (n.startswith("__") and n.endswith("__"))]
            if private and _owner(target, mods) != m:
                bad.append(f"{p.relative_to(SRC)}:{line}: from {target} import {', '.join(private)}")
    assert not bad, "private names imported across modules (make them public or move them down):\n" + "\n".join(bad)


# what serving code (detect/, serve/, scan) may use of tasks/: the task definitions and the serving side
SERVING = ("secllm.detect", "secllm.serve", "secllm.scan")
TASKS_SERVING_SIDE = {"secllm.tasks", "secllm.tasks.examples", "secllm.tasks.registry", "secllm.tasks.multitask",
                      "secllm.tasks.heads", "secllm.tasks.web_attack", "secllm.tasks.web", "secllm.tasks.url",
                      "secllm.tasks.script", "secllm.tasks.traffic", "secllm.tasks.logs", "secllm.tasks.cti",
                      "secllm.tasks.evtx"}


def test_serving_code_does_not_import_task_training_code():
    """detect/, serve/ and scan load what tasks serve (adapters on a base, heads), never what makes them
    (fine-tuning, head fitting, growth, evaluation), directly or through the serving side of tasks/."""
    graph = import_graph()
    bad = []
    for m, targets in graph.items():
        if not (m.startswith(SERVING) or m in TASKS_SERVING_SIDE):
            continue
        bad += [f"{m} -> {t}" for t in sorted(targets) if t.startswith("secllm.tasks.") and t not in TASKS_SERVING_SIDE]
    assert not bad, "serving code imports task training code:\n" + "\n".join(bad)
