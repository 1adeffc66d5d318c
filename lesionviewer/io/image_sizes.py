"""The main image size of a series: the loader keeps only the slices of its commonest size.

Example:
    >>> from lesionviewer.io.slice_header import SliceHeader
    >>> headers = [SliceHeader("a", "", 512, 512), SliceHeader("b", "", 512, 512), SliceHeader("c", "", 256, 256)]
    >>> commonest_size(headers), [h.path for h in of_commonest_size(headers)]
    ((512, 512), ['a', 'b'])
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

from lesionviewer.io.slice_header import SliceHeader


def commonest_size(headers: Sequence[SliceHeader]) -> tuple[int, int]:
    """``(rows, columns)`` held by most of ``headers`` (the first seen of equally common sizes).

    Example:
        >>> from lesionviewer.io.slice_header import SliceHeader
        >>> commonest_size([SliceHeader("a", "", 2, 3), SliceHeader("b", "", 4, 4)])
        (2, 3)
    """
    if not headers:
        raise ValueError("no headers: a series has at least one image")
    return Counter((h.rows, h.columns) for h in headers).most_common(1)[0][0]


def of_commonest_size(headers: Sequence[SliceHeader]) -> list[SliceHeader]:
    """The headers of the commonest image size, in their order.

    Example:
        >>> from lesionviewer.io.slice_header import SliceHeader
        >>> len(of_commonest_size([SliceHeader("a", "", 2, 2), SliceHeader("b", "", 2, 2), SliceHeader("c", "", 3, 3)]))
        2
    """
    size = commonest_size(headers)
    return [h for h in headers if (h.rows, h.columns) == size]
