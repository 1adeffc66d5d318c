"""Entry point of the ``lesionviewer`` command (the desktop viewer)."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Start the viewer; the GUI itself is being built (issue 6)."""
    print("LesionViewer GUI: not built yet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
