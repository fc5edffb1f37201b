"""The package's own imports, read from the source with ``ast``: the layer rule and a drawing.

    python scripts/import_graph.py            # package-level graph as a mermaid flowchart
    python scripts/import_graph.py --check    # exit 1 and list every import that breaks a rule

Rules (``tests/test_layout.py`` runs the same check): every module-level import points to the
same or a lower layer of ``LAYERS``; the file graph has no cycle; an import of the package's own
modules inside a function exists only to defer a heavy dependency and says so in a comment. A string
that is exactly one of the package's module names (``"adanat_cli.cli.sample"``, imported later with
``importlib``) counts as a module-level import of that module.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "adanat_cli"

# bottom to top; a part may import only from its own layer's parts or lower layers
LAYERS: list[tuple[str, ...]] = [
    ("__init__", "errors", "configurable"),
    ("io",),
    ("registry", "settings"),
    ("plots", "outputs"),
    ("architectures", "data", "text"),
    ("schedulers",),
    ("models",),
    ("engine",),
    ("metrics",),
    ("evaluation",),
    ("training",),
    ("cli", "builds", "__main__"),
]
LEVEL = {part: level for level, parts in enumerate(LAYERS) for part in parts}


@dataclass(frozen=True)
class Import:
    source: str  # dotted module name, e.g. adanat_cli.engine.loop
    target: str
    line: int
    in_function: bool
    comment: str  # the source line's comment, if any


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(module: str) -> str:
    """The layer part a module belongs to: its first sub-package or top-level module name."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "__init__"


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    targets = []
    for alias in node.names:  # `from pkg import submodule` imports the submodule
        candidate = PACKAGE.parent / Path(*target.split("."), alias.name)
        if candidate.with_suffix(".py").is_file() or candidate.is_dir():
            targets.append(f"{target}.{alias.name}")
    return targets or [target]


def imports() -> list[Import]:
    found = []
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        lines = path.read_text(encoding="utf-8").splitlines()
        tree = ast.parse("\n".join(lines))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in modules:  # imported by name, later
                found.append(Import(module, node.value, node.lineno, False, "by name"))
                continue
            if isinstance(node, ast.ImportFrom):
                targets = _resolve(module, path.name == "__init__.py", node)
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            ancestor, in_function = parents.get(node), False
            while ancestor is not None:
                in_function |= isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef))
                ancestor = parents.get(ancestor)
            text = lines[node.lineno - 1]
            comment = text.split("#", 1)[1].strip() if "#" in text else ""
            for target in targets:
                if target == "adanat_cli" or target.startswith("adanat_cli."):
                    found.append(Import(module, target, node.lineno, in_function, comment))
    return found


def _file_cycles(edges: list[Import]) -> list[list[str]]:
    """Strongly connected components of more than one file (Tarjan)."""
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for edge in edges:
        target = edge.target
        while target not in modules and "." in target:
            target = target.rsplit(".", 1)[0]
        if target in modules and target != edge.source:
            graph[edge.source].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            # a package's __init__ re-exporting its own modules is not a cycle worth reporting
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def violations() -> list[str]:
    edges = imports()
    problems = []
    for edge in edges:
        source, target = part_of(edge.source), part_of(edge.target)
        where = f"{edge.source}:{edge.line} imports {edge.target}"
        if source not in LEVEL or target not in LEVEL:
            problems.append(f"{where}: '{source if source not in LEVEL else target}' has no layer in LAYERS")
        elif LEVEL[target] > LEVEL[source]:
            problems.append(f"{where}: an import from layer '{source}' up to '{target}'")
        if edge.in_function and "deferred" not in edge.comment:
            problems.append(f"{where} inside a function without a '# deferred: why' comment")
    problems += [f"import cycle between files: {' -> '.join(c)}" for c in _file_cycles(edges)]
    return problems


def mermaid() -> str:
    pairs = sorted({(part_of(e.source), part_of(e.target)) for e in imports()
                    if part_of(e.source) != part_of(e.target) and not e.in_function})
    lines = ["flowchart BT"]
    lines += [f"  {a.strip('_') or 'root'} --> {b.strip('_') or 'root'}" for a, b in pairs]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if "--check" in argv:
        problems = violations()
        print("\n".join(problems) if problems else "layers respected, no file cycles")
        return 1 if problems else 0
    print(mermaid())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
