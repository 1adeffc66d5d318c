"""List docstring examples that show no behaviour: they print nothing, only a symbol's own name,
or only that a docstring exists.

Reads the source with ``ast`` (nothing is imported, so it takes a second over the whole tree) and
prints ``path:line  qualified.name  reason`` for each weak docstring; exits 1 when there is one.

    python tools/find_weak_doctests.py lesionviewer app

A docstring is weak when none of its examples prints anything but a symbol's repr
(``<function f at ...>``, ``<bound method ...>``), or when an example asks only about a bare symbol:
its ``__doc__``, ``__name__``, ``__qualname__`` or ``__module__`` (``train.__name__``,
``Foo.__doc__ is not None``), or ``callable(...)``/``hasattr(...)``. Examples marked
``# doctest: +SKIP`` show nothing either. ``type(f(x)).__name__`` is not
weak: it shows what a call returns.
"""
from __future__ import annotations

import ast
import doctest
import re
import sys
from pathlib import Path

_SYMBOL_OUTPUT = re.compile(r"^<(?:function|class|module|bound method|built-in function)\b.*>$")
# an attribute of a bare symbol (no call): `train.__name__`, `Foo.__doc__ is not None`, `Foo.bar.__doc__.split()[0]`
_ABOUT_THE_SYMBOL = re.compile(r"^[\w.]+\.(?:__doc__|__name__|__qualname__|__module__)\b")
_ONLY_CALLABLE = re.compile(r"^(?:callable|hasattr|inspect\.is\w+)\([\w., \"']*\)(?:\s+and\s+(?:callable|hasattr)\([\w., \"']*\))*$")


def _weak_reason(examples: list[doctest.Example]) -> str | None:
    """Why these examples show no behaviour, or ``None`` when at least one of them does."""
    if not examples:
        return None
    shown = []
    for ex in examples:
        source = ex.source.strip()
        parts = [p.strip() for p in source.split(",")]
        if all(_ABOUT_THE_SYMBOL.match(p) or _ONLY_CALLABLE.match(p) for p in parts):
            return f"asks only about the symbol: {source!r}"
        want = ex.want.strip()
        if ex.options.get(doctest.SKIP):
            continue  # a skipped example shows nothing
        if want and not _SYMBOL_OUTPUT.match(want):
            shown.append(want)
    if not shown:
        if any(ex.options.get(doctest.SKIP) and ex.want.strip() for ex in examples):
            return "every example with an output is skipped"
        return "no example prints anything but a symbol" if any(ex.want.strip() for ex in examples) else "no example prints anything"
    return None


def weak_doctests(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    parser = doctest.DocTestParser()

    def visit(node, prefix):
        doc = ast.get_docstring(node, clean=True)
        if doc:
            reason = _weak_reason(parser.get_examples(doc))
            if reason:
                line = getattr(node, "lineno", 1)
                yield f"{path}:{line}", prefix or "<module>", reason
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                yield from visit(child, f"{prefix}.{child.name}" if prefix else child.name)

    yield from visit(tree, "")


def main(argv: list[str]) -> int:
    roots = [Path(a) for a in (argv or ["lesionviewer", "app"])]
    found = 0
    for root in roots:
        for path in sorted(root.rglob("*.py") if root.is_dir() else [root]):
            for where, name, reason in weak_doctests(path):
                print(f"{where}  {name}  {reason}")
                found += 1
    print(f"{found} weak docstring example(s)", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
