"""How a training command's failure becomes its exit code (``lesionviewer.common.exit_codes``).

A bad config or argument exits 2, too many non-finite losses 3, a run-folder problem 4, unreadable
data or checkpoints 5, Ctrl+C 130; the message goes to stderr and never a traceback.

Example:
    >>> import contextlib, io
    >>> from lesionviewer.common.config_tree import ConfigError
    >>> def bad(args):
    ...     raise ConfigError("optim.lr must be > 0")
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     code = run_command(bad, None, "lesionviewer-risk")
    >>> code, err.getvalue()
    (2, 'lesionviewer-risk: optim.lr must be > 0\\n')
"""
from __future__ import annotations

from typing import Any, Callable

from lesionviewer.common.config_tree import ConfigError
from lesionviewer.common.exit_codes import EXIT_DATA, EXIT_INTERRUPTED, EXIT_NONFINITE, EXIT_RUN, EXIT_USAGE, fail


def run_command(handler: Callable[[Any], int], args: Any, program: str = "lesionviewer-train") -> int:
    """``handler(args)``'s exit code, or the code of the error it raised (see the module docstring).

    Example:
        >>> run_command(lambda args: 0, None)
        0
    """
    from lesionviewer.training.checkpoint import CheckpointError
    from lesionviewer.training.loop import NonFiniteLossError, RunError

    try:
        return handler(args)
    except ConfigError as exc:
        return fail(str(exc), EXIT_USAGE, program)
    except NonFiniteLossError as exc:
        return fail(str(exc), EXIT_NONFINITE, program)
    except RunError as exc:
        return fail(str(exc), EXIT_RUN, program)
    except (CheckpointError, FileNotFoundError, ValueError, OSError) as exc:
        return fail(str(exc), EXIT_DATA, program)
    except KeyboardInterrupt:
        return fail("interrupted; continue with --resume RUN_DIR (the last checkpoint is kept)", EXIT_INTERRUPTED,
                    program)
