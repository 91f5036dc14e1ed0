"""The package's shape, read from the source with ``ast`` (nothing is imported):

* no import cycle among ``edge_agent``'s modules, counting imports inside functions (a function-level
  import hides a cycle from Python at import time, not from the design);
* no runtime module imports the test and benchmark kits (``edge_agent.testing``, ``edge_agent.bench``):
  only the benchmarks themselves, the kits, and the ``bench`` subcommand that runs them may.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "edge_agent"
KITS = ("edge_agent.testing", "edge_agent.bench")
MAY_IMPORT_KITS = (*KITS, "edge_agent.commands.bench")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def imported_names(name: str, path: Path) -> Iterator[str]:
    """Every ``edge_agent`` name an import statement anywhere in the module mentions, relative
    imports resolved; ``from a import b`` yields ``a`` and ``a.b`` (``b`` may be a submodule)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            yield target
            yield from (f"{target}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    """Module -> the ``edge_agent`` modules it imports (a name is resolved to its longest module prefix)."""
    mods = modules()

    def resolve(dotted: str) -> str | None:
        while dotted and dotted not in mods:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        targets = {resolve(t) for t in imported_names(name, path) if t.split(".")[0] == "edge_agent"}
        graph[name] = {t for t in targets if t is not None and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def _in(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(f"{p}.") for p in packages)


def test_the_graph_sees_function_level_imports() -> None:
    graph = import_graph()
    assert "edge_agent.config" in graph["edge_agent.commands.run"]  # imported inside run()
    assert "edge_agent.testing.localbroker" in graph["edge_agent.testing.cloud_rig"]


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [frozenset({"a", "b", "c"})]


def test_no_import_cycle() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(sorted(c)) for c in found)


def test_runtime_modules_do_not_import_test_or_bench_kits() -> None:
    offenders = {
        name: sorted(t for t in targets if _in(t, KITS))
        for name, targets in import_graph().items()
        if not _in(name, MAY_IMPORT_KITS)
    }
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"runtime modules importing test/bench code: {offenders}"
