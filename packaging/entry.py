"""Entry point of the bundled app: ``LesionViewer [PATH]`` starts the viewer, ``LesionViewer --self-test``
runs the self-test (handled here, so the bundle can test itself whatever the viewer's own parser knows).
"""
from __future__ import annotations

import multiprocessing
import sys


def main(argv: list[str] | None = None) -> int:
    """Run the viewer or, with ``--self-test``, the self-test; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--self-test" in args:
        args.remove("--self-test")
        from lesionviewer_app.self_test import run_self_test

        return run_self_test(args)
    from lesionviewer_app.main import main as viewer_main

    return viewer_main(args)


if __name__ == "__main__":
    # A frozen app re-runs this script for every worker process it starts (the phantom generator
    # and the data loaders use multiprocessing); freeze_support() hands those runs to the worker.
    multiprocessing.freeze_support()
    sys.exit(main())
