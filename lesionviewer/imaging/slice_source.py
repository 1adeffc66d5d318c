"""Where context stacks get their slices from: an in-memory volume or a folder of PNG files.

A slice source is anything with ``num_slices`` and ``read(index) -> 2-D HU array``. The context code
asks only for the slices it needs, so a DeepLesion series (hundreds of PNGs, of which a 9-slice stack
needs about a dozen) is never read whole.

Example:
    >>> import numpy as np
    >>> src = as_slice_source(np.arange(24, dtype=np.int16).reshape(2, 3, 4))
    >>> src.num_slices, src.read(1)[0].tolist()
    (2, [12, 13, 14, 15])
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

#: DeepLesion's PNGs store ``HU + 32768`` as 16-bit unsigned integers.
DEEPLESION_HU_OFFSET = -32768


@runtime_checkable
class SliceSource(Protocol):
    """Anything that can hand out axial slices one at a time (HU, shape ``(H, W)``).

    Example:
        >>> import numpy as np
        >>> isinstance(ArraySliceSource(np.zeros((1, 1, 1))), SliceSource), isinstance(np.zeros(1), SliceSource)
        (True, False)
    """

    @property
    def num_slices(self) -> int:
        """How many slices the source has.

        Example:
            >>> CallableSliceSource(5, lambda i: None).num_slices
            5
        """
        ...

    def read(self, index: int) -> np.ndarray:
        """Slice ``index`` as a 2-D HU array; ``IndexError`` outside ``0 .. num_slices - 1``.

        Example:
            >>> import numpy as np
            >>> ArraySliceSource(np.ones((1, 1, 2))).read(0).tolist()
            [[1.0, 1.0]]
        """
        ...


class ArraySliceSource:
    """Slices of an in-memory ``(Z, H, W)`` array (numpy or torch), without copying it.

    Example:
        >>> import numpy as np
        >>> ArraySliceSource(np.zeros((5, 2, 2))).num_slices
        5
    """

    def __init__(self, volume_hu) -> None:
        volume = volume_hu.numpy() if hasattr(volume_hu, "numpy") and not isinstance(volume_hu, np.ndarray) \
            else np.asarray(volume_hu)
        if volume.ndim != 3:
            raise ValueError(f"a slice source needs a (Z, H, W) volume; got shape {volume.shape}")
        if volume.shape[0] == 0:
            raise ValueError("a slice source needs at least one slice; got an empty volume")
        self.volume = volume

    @property
    def num_slices(self) -> int:
        """Number of slices in the array.

        Example:
            >>> import numpy as np
            >>> ArraySliceSource(np.zeros((3, 1, 1))).num_slices
            3
        """
        return int(self.volume.shape[0])

    def read(self, index: int) -> np.ndarray:
        """Slice ``index`` (a view, not a copy).

        Example:
            >>> import numpy as np
            >>> ArraySliceSource(np.arange(4).reshape(2, 1, 2)).read(1).tolist()
            [[2, 3]]
        """
        return self.volume[_checked_index(index, self.num_slices)]


class CallableSliceSource:
    """Slices produced by a function ``read(index)``, e.g. a decoder of one file per slice.

    Example:
        >>> import numpy as np
        >>> src = CallableSliceSource(4, lambda i: np.full((2, 2), i * 10))
        >>> src.read(3).tolist()
        [[30, 30], [30, 30]]
    """

    def __init__(self, num_slices: int, read: Callable[[int], np.ndarray]) -> None:
        if num_slices < 1:
            raise ValueError(f"a slice source needs at least one slice; got {num_slices}")
        self._num_slices = int(num_slices)
        self._read = read

    @property
    def num_slices(self) -> int:
        """Number of slices the function can produce.

        Example:
            >>> CallableSliceSource(2, lambda i: None).num_slices
            2
        """
        return self._num_slices

    def read(self, index: int) -> np.ndarray:
        """The function's slice ``index``.

        Example:
            >>> import numpy as np
            >>> CallableSliceSource(1, lambda i: np.ones((1, 1))).read(0).tolist()
            [[1.0]]
        """
        return np.asarray(self._read(_checked_index(index, self._num_slices)))


class PngSliceSource:
    """A series stored as one 16-bit PNG per slice (DeepLesion's ``Images_png`` layout).

    ``paths`` are in slice order; each is decoded only when read. HU = stored value + ``hu_offset``
    (DeepLesion: -32768). A file that cannot be decoded raises ``lesionviewer.io.errors.CorruptFileError``
    naming it.

    Example:
        >>> import numpy as np, tempfile, os
        >>> from PIL import Image
        >>> folder = tempfile.mkdtemp()
        >>> Image.fromarray(np.full((2, 3), 32768 - 1000, np.uint16)).save(os.path.join(folder, "001.png"))
        >>> PngSliceSource([os.path.join(folder, "001.png")]).read(0).tolist()
        [[-1000, -1000, -1000], [-1000, -1000, -1000]]
    """

    def __init__(self, paths: Sequence[str | os.PathLike], hu_offset: int = DEEPLESION_HU_OFFSET) -> None:
        self.paths = [os.fspath(p) for p in paths]
        if not self.paths:
            raise ValueError("a PNG slice source needs at least one file")
        self.hu_offset = int(hu_offset)

    @property
    def num_slices(self) -> int:
        """Number of PNG files.

        Example:
            >>> PngSliceSource(["a.png", "b.png"]).num_slices
            2
        """
        return len(self.paths)

    def read(self, index: int) -> np.ndarray:
        """Decode slice ``index`` to int16 HU (int32 if the offset pushes values out of int16).

        Example:
            >>> PngSliceSource(["missing.png"]).read(0)  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            lesionviewer.io.errors.CorruptFileError: ...missing.png...
        """
        from PIL import Image, UnidentifiedImageError

        from lesionviewer.io.errors import CorruptFileError

        path = self.paths[_checked_index(index, self.num_slices)]
        try:
            with Image.open(path) as image:
                stored = np.asarray(image)
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise CorruptFileError(path, f"cannot decode the PNG slice ({exc})") from exc
        if stored.ndim != 2:
            raise CorruptFileError(path, f"expected a grayscale slice, got an image of shape {stored.shape}")
        hu = stored.astype(np.int32) + self.hu_offset
        if hu.size and hu.min() >= -32768 and hu.max() <= 32767:
            return hu.astype(np.int16)
        return hu


def as_slice_source(volume_or_source) -> SliceSource:
    """Wrap a ``(Z, H, W)`` array (or a ``Volume``, by its ``hu``) as a slice source; pass a source through.

    Example:
        >>> import numpy as np
        >>> type(as_slice_source(np.zeros((1, 2, 2)))).__name__
        'ArraySliceSource'
        >>> from lesionviewer.io.volume import Volume
        >>> as_slice_source(Volume(np.zeros((3, 2, 2), np.int16), (1, 1, 1))).num_slices
        3
    """
    if isinstance(volume_or_source, SliceSource) and not isinstance(volume_or_source, np.ndarray):
        return volume_or_source
    hu = getattr(volume_or_source, "hu", None)
    if hu is not None and not isinstance(volume_or_source, np.ndarray):
        return ArraySliceSource(hu)
    return ArraySliceSource(volume_or_source)


def _checked_index(index: int, num_slices: int) -> int:
    index = int(index)
    if not 0 <= index < num_slices:
        raise IndexError(f"slice index {index} is outside 0..{num_slices - 1}")
    return index
