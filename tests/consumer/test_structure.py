"""The tree reads as the flow: no import circles, and no package imports one above it.

Packages of ``tiktok_capi.consumer`` in layers, lowest first (docs/architecture.md draws them).
A module may import from its own package and from lower layers only; ``mapping``, ``schemas``
and the standard library are below everything. Imports under ``TYPE_CHECKING`` count too:
a type is a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONSUMER = ROOT / "consumer"

LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"status", "config", "malloc", "collector"}),
    frozenset({"telemetry"}),
    frozenset({"kafka"}),
    frozenset({"offsets"}),
    frozenset({"decode"}),
    frozenset({"delivery"}),
    frozenset({"failures"}),
    frozenset({"loop"}),
    frozenset({"app"}),
    frozenset({"commands", "demo", "cli", "__main__"}),
)
LAYER = {name: depth for depth, names in enumerate(LAYERS) for name in names}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("tiktok_capi", *parts))


def _is_module(name: str) -> bool:
    relative = Path(*name.split(".")[1:])
    return (ROOT / relative).with_suffix(".py").is_file() or (
        ROOT / relative / "__init__.py"
    ).is_file()


def _imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(CONSUMER.rglob("*.py")):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith("tiktok_capi.consumer"):
                    found.add(node.module)
                    for alias in node.names:  # `from package import module`
                        if _is_module(f"{node.module}.{alias.name}"):
                            found.add(f"{node.module}.{alias.name}")
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("tiktok_capi.consumer")}
        graph[_module(path)] = found
    return graph


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 else "(root)"


def test_every_package_has_a_layer() -> None:
    packages = {_package(m) for m in _imports()} - {"(root)"}
    assert packages == set(LAYER), "place new packages in LAYERS (and docs/architecture.md)"


def test_no_package_imports_from_a_higher_layer() -> None:
    imports = _imports()
    upward = [
        f"{module} imports {target}"
        for module, targets in imports.items()
        for target in targets
        if _package(module) != "(root)"
        and _package(target) != "(root)"
        and LAYER[_package(target)] > LAYER[_package(module)]
    ]
    assert upward == []


def test_no_import_circles_between_modules() -> None:
    imports = _imports()
    graph = {m: {t for t in ts if t in imports} for m, ts in imports.items()}
    # A package's __init__ re-exports its modules: edges into an __init__ from its own modules
    # are not circles of code.
    for module, targets in graph.items():
        graph[module] = {t for t in targets if not module.startswith(t + ".")}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert circles == []


def test_mapping_imports_nothing_of_the_consumer() -> None:
    for path in (ROOT / "mapping").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "tiktok_capi.consumer" not in text, path
