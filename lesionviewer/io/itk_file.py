"""One NIfTI, NRRD or MetaImage file read as ``load_volume`` reads it: checked first, cancellable,
and failing only with ``LoadError``.

Example:
    >>> read_itk_file("/nonexistent/scan.nii.gz")
    Traceback (most recent call last):
    ...
    lesionviewer.io.errors.LoadError: /nonexistent/scan.nii.gz: no such file or folder
"""
from __future__ import annotations

from pathlib import Path

from lesionviewer.io.errors import LoadError
from lesionviewer.io.file_checks import regular_file_size
from lesionviewer.io.itk_image import load_itk_image
from lesionviewer.io.load_guard import guarded_read
from lesionviewer.io.progress import LoadProgress, ProgressCallback
from lesionviewer.io.volume import Volume


def read_itk_file(path: str | Path, *, progress: ProgressCallback | None = None, cancel=None) -> Volume:
    """The volume in the image file ``path`` (``cancel`` is checked before reading; ``progress`` is not called).

    Example:
        >>> import tempfile, pathlib
        >>> bad = pathlib.Path(tempfile.mkdtemp()) / "bad.nrrd"
        >>> _ = bad.write_bytes(b"NRRD0004\\n")
        >>> read_itk_file(bad)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.io.errors.CorruptFileError: ...bad.nrrd: ...
    """
    path = Path(path)
    tracker = LoadProgress(progress, cancel, source=str(path))

    def read() -> Volume:
        tracker.check_cancel()
        if not path.exists():
            raise LoadError(path, "no such file or folder")
        regular_file_size(path)  # a named pipe or a link to /dev/zero is refused before it is opened
        return load_itk_image(path)

    return guarded_read(path, read)
