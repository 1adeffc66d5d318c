"""Whether a process still runs, by its id (the owner of a lock or of a temporary folder).

Example:
    >>> import os, subprocess, sys
    >>> ended = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
    ...                            capture_output=True, text=True).stdout)
    >>> pid_alive(os.getpid()), pid_alive(ended)
    (True, False)
"""
from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` exists (also when it belongs to another user); see the module's example."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, but is someone else's
        return True
    return True
