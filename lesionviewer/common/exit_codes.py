"""The exit codes every LesionViewer command uses, and how a command reports a failure.

0 done, 2 bad arguments or config, 3 too many non-finite losses, 4 run folder problem (nothing to
resume, or a run already there), 5 data, model or checkpoint could not be read, 130 interrupted.

Example:
    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     code = fail("no such run", EXIT_RUN, "lesionviewer-risk")
    >>> code, err.getvalue()
    (4, 'lesionviewer-risk: no such run\\n')
"""
from __future__ import annotations

import sys

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_NONFINITE = 3
EXIT_RUN = 4
EXIT_DATA = 5
EXIT_INTERRUPTED = 130


def fail(message: str, code: int, program: str = "lesionviewer-train") -> int:
    """Print ``program: message`` to stderr and return ``code`` (for ``return fail(...)`` in a command).

    Example:
        >>> import contextlib, io
        >>> with contextlib.redirect_stderr(io.StringIO()):
        ...     fail("bad --threshold", EXIT_USAGE)
        2
    """
    print(f"{program}: {message}", file=sys.stderr)
    return code
