"""Older name of ``lesionviewer-train``'s command line, now :mod:`lesionviewer.commands.train_cli`.

Kept so that ``torchrun --nproc_per_node N -m lesionviewer.training.cli train ...`` and older imports
(``from lesionviewer.training.cli import main, EXIT_USAGE``) keep working. A compatibility shim: the
architecture test lets it import the layer above (``docs/architecture.md``); new code imports
:mod:`lesionviewer.commands.train_cli` or :mod:`lesionviewer.common.exit_codes`.

Example:
    >>> main(["train", "--resume", "/nonexistent/run"])  # the message goes to stderr
    4
"""
from __future__ import annotations

import sys

from lesionviewer.commands.train_cli import (  # noqa: F401 - this module re-exports them
    EXIT_DATA,
    EXIT_NONFINITE,
    EXIT_OK,
    EXIT_RUN,
    EXIT_USAGE,
    _fail,
    build_parser,
    main,
)

if __name__ == "__main__":
    sys.exit(main())
