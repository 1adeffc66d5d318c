"""Small helpers shared across the library (atomic file writing, text and CSV safety).

Their names live in the modules (``util.atomic.atomic_write_text`` ...).

Example:
    >>> import lesionviewer.util
    >>> lesionviewer.util.__all__
    []
"""

__all__: list[str] = []
