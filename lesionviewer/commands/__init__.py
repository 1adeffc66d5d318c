"""The command-line programs that span several packages: the top layer, which nothing in the library imports.

``lesionviewer-train`` (:mod:`lesionviewer.commands.train_cli`) puts the detector's, the risk model's
and the data tools' subcommands under one program. Single-package programs live in their package
(``lesionviewer-detect`` in ``detection/cli.py``, ``lesionviewer-risk`` in ``risk/cli.py``).

Example:
    >>> from lesionviewer.commands.train_cli import build_parser
    >>> build_parser().prog
    'lesionviewer-train'
"""

__all__: list[str] = []
