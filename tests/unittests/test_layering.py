"""The package is layered: no import cycle, no import from a lower layer to a higher one.

Every module under ``speechbrain_tclap/`` is parsed (nothing is imported)
and each ``import`` statement, at module level or inside a function, becomes
an edge to the package module it names. There must be no cycle of edges,
between modules or between the package's parts (subpackages and top-level
modules). The layers, lowest first, are those of ``docs/architecture.md``
("Layers"); a module may import its own layer and the layers below it.
"""

import ast
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "speechbrain_tclap"
PACKAGE = PACKAGE_DIR.name

#: Layers, lowest first: (name, modules). A module belongs to the layer of the
#: longest entry that is the module itself or one of its parent packages
#: (relative to the package; "" is the package's own ``__init__``).
LAYERS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("utils", ("", "utils")),
    ("data / losses / metrics", ("data", "losses", "metrics", "events", "plotting")),
    ("lobes", ("lobes",)),
    ("model", ("lobes.clap", "convert", "windows", "export")),
    ("trainer / interface", ("brain", "recipe", "multitask", "inference", "pretrained", "export_onnx")),
    ("evaluation / benchmark / command line", ("evaluation", "benchmark", "cli", "export_cli")),
)


def module_name(path: Path) -> str:
    """Dotted name of a file of the package."""
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules() -> Dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    return {module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def imports_of(name: str, path: Path, modules: Dict[str, Path]) -> List[Tuple[str, int]]:
    """Package modules that ``name`` imports anywhere in its file, with the line.

    ``from a.b import c`` names the module ``a.b.c`` when there is one,
    otherwise ``a.b``; ``import a.b.c`` names the longest existing prefix.
    """
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and (target, node.lineno) not in found:
                found.append((target, node.lineno))
    return found


def layer_of(name: str) -> int:
    """Index of the layer of a package module (ValueError when unmapped)."""
    relative = name[len(PACKAGE) + 1 :] if name != PACKAGE else ""
    best, best_len = None, -1
    for index, (_, entries) in enumerate(LAYERS):
        for entry in entries:
            matches = relative == entry or (
                entry and relative.startswith(entry + ".")
            )
            if matches and len(entry) > best_len:
                best, best_len = index, len(entry)
    if best is None:
        raise ValueError(f"{name} is in no layer: add it to LAYERS and docs/architecture.md")
    return best


def import_graph() -> Dict[str, List[Tuple[str, int]]]:
    """Module -> [(imported package module, line)]."""
    modules = package_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: Dict[str, List[Tuple[str, int]]]) -> List[List[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target, _ in graph.get(node, []):
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
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_the_parser_sees_module_and_function_level_imports(graph):
    targets = {name: {t for t, _ in edges} for name, edges in graph.items()}
    # a module-level and a function-level import (``plot_frame_scores``)
    assert f"{PACKAGE}.windows" in targets[f"{PACKAGE}.inference"]
    assert f"{PACKAGE}.plotting" in targets[f"{PACKAGE}.evaluation.sed"]


def test_every_module_has_a_layer(graph):
    unmapped = []
    for name in graph:
        try:
            layer_of(name)
        except ValueError:
            unmapped.append(name)
    assert not unmapped, f"modules in no layer: {unmapped}"


def test_no_import_cycle(graph):
    found = cycles(graph)
    details = []
    for component in found:
        members = set(component)
        details += [
            f"{name} -> {target} (line {line})"
            for name in component
            for target, line in graph[name]
            if target in members
        ]
    assert not found, "import cycles:\n" + "\n".join(details)


def test_no_import_cycle_between_parts(graph):
    # A part is a subpackage (``lobes``, ``convert``, ...) or a top-level
    # module: e.g. a lobe may not import ``convert``, which imports lobes.
    def part(name):
        return name.split(".")[1] if "." in name else name

    parts: Dict[str, List[Tuple[str, int]]] = {part(name): [] for name in graph}
    for name, edges in graph.items():
        parts[part(name)] += [(part(t), line) for t, line in edges if part(t) != part(name)]
    found = cycles(parts)
    assert not found, f"import cycles between parts of the package: {found}"


def test_no_upward_import(graph):
    upward = [
        f"{name} ({LAYERS[layer_of(name)][0]}) -> {target} "
        f"({LAYERS[layer_of(target)][0]}), line {line}"
        for name, edges in sorted(graph.items())
        for target, line in edges
        if layer_of(target) > layer_of(name)
    ]
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_no_module_runs_code_by_path():
    # The package never executes files by path (e.g. the recipes' scripts,
    # which are not installed): what it needs lives in the package.
    loaders = {"spec_from_file_location", "exec_module", "run_path"}
    found = [
        f"{module_name(path)}, line {node.lineno}: {node.attr}"
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and node.attr in loaders
    ]
    assert not found, found
