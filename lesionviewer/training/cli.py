"""Entry point of ``lesionviewer-train``."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Parse the command line; training itself lands with issue 5.

    Example:
        >>> main(["--help"])  # doctest: +SKIP
    """
    parser = argparse.ArgumentParser(prog="lesionviewer-train", description="Train and evaluate LesionViewer detectors.")
    parser.parse_args(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
