"""The import graph of LesionViewer's code, read from the source (nothing is imported), for the architecture tests.

Every ``import`` and ``from ... import`` counts, those inside functions too (a lazy import is still
a dependency), except those under ``if TYPE_CHECKING:`` (annotations only) and under
``if __name__ == "__main__":`` (a program's entry, run only as a script, never when imported).

Example:
    >>> graph = ImportGraph.of_package(ROOT / "lesionviewer", "lesionviewer")
    >>> "lesionviewer.io.volume" in graph.imports["lesionviewer.io.dicom_loader"]
    True
"""
from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _skipped_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = ast.unparse(node.test)
    return test in ("TYPE_CHECKING", "typing.TYPE_CHECKING") or test.replace("'", '"') == '__name__ == "__main__"'


def _import_nodes(tree: ast.AST):
    stack = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if _skipped_block(child):
                stack.extend(child.orelse)  # the else branch of such an if runs on import
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child
            stack.append(child)


@dataclass
class ImportGraph:
    """Modules (dotted names) of one package, each with the package's modules it imports.

    ``names`` records, per module, every ``(module, name)`` imported with ``from module import name``.
    """

    modules: dict[str, Path]
    imports: dict[str, set[str]] = field(default_factory=dict)
    names: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    @classmethod
    def of_package(cls, folder: Path, name: str) -> "ImportGraph":
        modules = {}
        for path in sorted(folder.rglob("*.py")):
            parts = [name, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
        graph = cls(modules)
        for module, path in modules.items():
            graph._read(module, path)
        return graph

    def _owner(self, dotted: str) -> str | None:
        while dotted and dotted not in self.modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    def _read(self, module: str, path: Path) -> None:
        targets: set[str] = set()
        names: list[tuple[str, str]] = []
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found = [self._owner(alias.name) for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                found = []
                for alias in node.names:
                    names.append((base, alias.name))
                    found.append(self._owner(f"{base}.{alias.name}"))
            targets.update(t for t in found if t and t != module)
        self.imports[module] = targets
        self.names[module] = names

    def package_of(self, module: str, depth: int = 2) -> str:
        """``lesionviewer.io`` for ``lesionviewer.io.volume`` (a top-level module is its own package)."""
        return ".".join(module.split(".")[:depth])


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted.

    Example:
        >>> cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}})
        [['a', 'b']]
    """
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
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
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(set(edges) | {w for ws in edges.values() for w in ws}):
        if node not in index:
            visit(node)
    return sorted(found)
