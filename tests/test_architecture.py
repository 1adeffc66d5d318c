"""The architecture as a contract (docs/architecture.md): layers, no import cycles, public names, file sizes.

The import graph is read from the source (tests/import_graph.py), lazy imports inside functions
included, so a new cycle or an upward import fails here however it is written.
"""
from __future__ import annotations

import importlib

import pytest

from import_graph import ROOT, ImportGraph, cycles

LIBRARY = ImportGraph.of_package(ROOT / "lesionviewer", "lesionviewer")
APP = ImportGraph.of_package(ROOT / "app", "lesionviewer_app")

#: The library's packages, lowest first: a package imports only packages of lower layers.
LAYERS = [
    {"lesionviewer", "lesionviewer.util", "lesionviewer.paths", "lesionviewer.common"},
    {"lesionviewer.io"},
    {"lesionviewer.imaging", "lesionviewer.phantom"},
    {"lesionviewer.detection"},
    {"lesionviewer.review"},
    {"lesionviewer.evaluation", "lesionviewer.pacs"},
    {"lesionviewer.training"},
    {"lesionviewer.risk"},
    {"lesionviewer.synthesis", "lesionviewer.sample"},
    {"lesionviewer.commands"},
]

#: Modules kept under an older name that re-export the layer above them; their own imports are exempt.
COMPATIBILITY_SHIMS = {
    "lesionviewer.training.cli": "lesionviewer-train's older home (torchrun -m lesionviewer.training.cli)",
}

#: Known upward imports still to be removed, each with its reason; the test below fails once one is gone,
#: so that this list only shrinks.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}

#: Files still over the size limit, to be split (docs/architecture.md says how); only ever shrinks.
MAX_LINES = 600
KNOWN_LONG_FILES: set[str] = set()


def _layer(package: str) -> int:
    for number, layer in enumerate(LAYERS):
        if package in layer:
            return number
    raise AssertionError(f"{package} is in no layer: add it to LAYERS and to docs/architecture.md")


def _library_edges() -> list[tuple[str, str]]:
    return [(a, b) for a, targets in LIBRARY.imports.items() if a not in COMPATIBILITY_SHIMS
            for b in sorted(targets) if (a, b) not in KNOWN_EXCEPTIONS]


def test_every_package_sits_in_one_layer():
    packages = {LIBRARY.package_of(m) for m in LIBRARY.modules}
    assert sorted(p for p in packages if not any(p in layer for layer in LAYERS)) == []


def test_no_package_imports_a_package_of_its_own_or_a_higher_layer():
    upward = [f"{a} -> {b}" for a, b in _library_edges()
              if LIBRARY.package_of(a) != LIBRARY.package_of(b)
              and _layer(LIBRARY.package_of(b)) >= _layer(LIBRARY.package_of(a))]
    assert upward == []


def test_no_import_cycle_between_packages():
    edges: dict[str, set[str]] = {}
    for a, b in _library_edges():
        if LIBRARY.package_of(a) != LIBRARY.package_of(b):
            edges.setdefault(LIBRARY.package_of(a), set()).add(LIBRARY.package_of(b))
    assert cycles(edges) == []


@pytest.mark.parametrize("graph", [LIBRARY, APP], ids=["lesionviewer", "lesionviewer_app"])
def test_no_import_cycle_between_modules(graph):
    # A package's __init__ re-exports its modules, which may import the package's public names back.
    inits = {m for m, path in graph.modules.items() if path.name == "__init__.py"}
    edges = {a: {b for b in targets if b not in inits} for a, targets in graph.imports.items()
             if a not in inits and a not in COMPATIBILITY_SHIMS}
    edges = {a: {b for b in targets if (a, b) not in KNOWN_EXCEPTIONS} for a, targets in edges.items()}
    assert cycles(edges) == []


def test_a_new_cycle_would_be_caught():
    edges = {a: set(targets) for a, targets in LIBRARY.imports.items()}
    edges["lesionviewer.io.volume"].add("lesionviewer.review.series_key")  # series_key imports io.volume's package
    edges["lesionviewer.review.series_key"].add("lesionviewer.io.volume")
    assert any({"lesionviewer.io.volume", "lesionviewer.review.series_key"} <= set(c) for c in cycles(edges))


def test_known_exceptions_still_exist_so_the_list_only_shrinks():
    for (a, b), reason in KNOWN_EXCEPTIONS.items():
        assert b in LIBRARY.imports.get(a, set()), f"{a} no longer imports {b}: remove it from KNOWN_EXCEPTIONS"


def test_every_library_package_declares_its_public_names():
    missing = [m for m, path in LIBRARY.modules.items()
               if path.name == "__init__.py" and not hasattr(importlib.import_module(m), "__all__")]
    assert missing == []


def test_the_app_imports_only_public_library_names():
    private = []
    for module, names in APP.names.items():
        for source, name in names:
            if source != "lesionviewer" and not source.startswith("lesionviewer."):
                continue
            if any(part.startswith("_") for part in source.split(".")) or name.startswith("_"):
                private.append(f"{module}: from {source} import {name}")
            elif f"{source}.{name}" not in LIBRARY.modules:
                exported = getattr(importlib.import_module(source), "__all__", None)
                if exported is not None and name not in exported:
                    private.append(f"{module}: from {source} import {name} (not in its __all__)")
    assert private == []


def test_no_file_is_over_the_size_limit():
    long_files = {str(path.relative_to(ROOT)) for folder in ("app", "lesionviewer")
                  for path in (ROOT / folder).rglob("*.py")
                  if len(path.read_text(encoding="utf-8").splitlines()) > MAX_LINES}
    assert long_files - KNOWN_LONG_FILES == set(), f"over {MAX_LINES} lines: split by concept"
    assert KNOWN_LONG_FILES - long_files == set(), "now short enough: remove it from KNOWN_LONG_FILES"
