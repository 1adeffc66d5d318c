"""docs/reliability.md names only tests and files that exist (a promise without its test is no promise)."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reliability.md"


def test_every_test_and_file_the_reliability_doc_names_exists():
    doc = DOC.read_text(encoding="utf-8")
    files = set(re.findall(r"`(tests/[\w/]+\.py)", doc))
    sources = set(re.findall(r"`(lesionviewer/[\w/]+\.py|app/\w+\.py|conftest\.py)`", doc))
    assert len(files) > 10
    assert [f for f in sorted(files | sources) if not (ROOT / f).is_file()] == []
    names = set(re.findall(r"`(?:tests/[\w/]+\.py::)?(test_\w+)`", doc)) | set(re.findall(r"::(test_\w+)", doc))
    every_test = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").glob("*.py"))
    assert [n for n in sorted(names) if f"def {n}(" not in every_test] == []
