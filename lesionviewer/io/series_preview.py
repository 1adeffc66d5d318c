"""The middle slice of a DICOM series, decoded alone, for a viewer to show while the rest decodes.

It goes through the loader's own path (``load_dicom_headers`` with one header, chosen among the
slices of the main image size as the full load arranges them), so the preview is exactly the slice
the full load will show at that index.

Example:
    >>> from lesionviewer.io.series_info import SeriesInfo
    >>> middle_slice_preview(SeriesInfo(format="itk", num_slices=3)) is None  # only DICOM series
    True
"""
from __future__ import annotations

from dataclasses import dataclass

from lesionviewer.io.dicom_loader import load_dicom_headers
from lesionviewer.io.image_sizes import of_commonest_size
from lesionviewer.io.series_info import SeriesInfo
from lesionviewer.io.slice_stack import arrange_slices
from lesionviewer.io.volume import Volume


@dataclass
class SlicePreview:
    """A one-slice ``volume`` with the series' in-plane geometry and header window; ``index`` is its
    place among the ``count`` slices of the whole series.

    Example:
        >>> import numpy as np
        >>> SlicePreview(Volume(np.zeros((1, 2, 2), np.int16), (1, 1, 1)), 3, 7).index
        3
    """

    volume: Volume
    index: int
    count: int


def middle_slice_preview(series: SeriesInfo) -> SlicePreview | None:
    """The slice nearest the middle of ``series``, or None where there is nothing worth previewing
    (not DICOM, a single image) or its headers cannot be arranged or decoded (the full load says why).

    Example:
        >>> import tempfile, numpy as np
        >>> from lesionviewer.io import find_series, write_dicom_series
        >>> folder = tempfile.mkdtemp()
        >>> _ = write_dicom_series(Volume(np.arange(5 * 4 * 4, dtype=np.int16).reshape(5, 4, 4), (2.0, 1, 1)), folder)
        >>> preview = middle_slice_preview(find_series(folder)[0])
        >>> preview.index, preview.count, int(preview.volume.hu[0, 0, 0])
        (2, 5, 32)
    """
    headers = list(series.headers)
    if series.format != "dicom" or len(headers) < 2:
        return None
    try:
        stack = arrange_slices(of_commonest_size(headers))
        middle = stack.num_slices // 2
        index = min((i for i, h in enumerate(stack.slots) if h is not None), key=lambda i: abs(i - middle))
        header = stack.slots[index]
        assert header is not None
        volume = load_dicom_headers([header], source=series.folder or None)
    except Exception:  # noqa: BLE001 - a preview is a nicety; the full load reports every real problem
        return None
    if not volume.identity.description and series.series_description:
        volume.identity = volume.identity.with_description(series.series_description)
    return SlicePreview(volume, index, stack.num_slices)
