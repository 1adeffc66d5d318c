"""Every docstring example shows a behaviour: none prints nothing, only a symbol's repr, only a
symbol's own ``__name__``/``__doc__``, or only skipped output (tools/find_weak_doctests.py)."""
from __future__ import annotations

import doctest
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("find_weak_doctests", ROOT / "tools" / "find_weak_doctests.py")
weak = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(weak)

# Weak examples allowed for now (none left): a new weak example fails the test below.
KNOWN: set[tuple[str, str]] = set()


def _examples(text: str) -> list[doctest.Example]:
    return doctest.DocTestParser().get_examples(text)


def test_the_finder_tells_weak_examples_from_real_ones():
    assert weak._weak_reason(_examples(">>> train.__name__\n'train'\n")).startswith("asks only")
    assert weak._weak_reason(_examples(">>> Foo.__doc__ is not None\nTrue\n")).startswith("asks only")
    assert weak._weak_reason(_examples(">>> stack.clear()\n")) == "no example prints anything"
    assert weak._weak_reason(_examples(">>> f\n<function f at 0x1>\n")) == "no example prints anything but a symbol"
    assert weak._weak_reason(_examples(">>> f(2)  # doctest: +SKIP\n4\n")) == "every example with an output is skipped"
    assert weak._weak_reason(_examples(">>> f(2)\n4\n")) is None
    assert weak._weak_reason(_examples(">>> type(build('adamw')).__name__\n'AdamW'\n")) is None
    assert weak._weak_reason(_examples(">>> x = 1\n>>> x + 1\n2\n")) is None


def test_no_new_weak_docstring_examples():
    found = set()
    for folder in ("lesionviewer", "app"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for where, name, _reason in weak.weak_doctests(path):
                found.add((path.relative_to(ROOT).as_posix(), name))
    assert found - KNOWN == set(), "docstring examples that show no behaviour"
