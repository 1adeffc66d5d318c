"""Cropping the black border around the patient (3DCE's optional preprocessing).

The body is where HU exceeds a threshold (-768 by default, well above air and the -1024 / -2048 /
-3024 padding scanners write outside the field of view); a 7x7 morphological opening removes the
table edge, noise and thin lines, and the crop is the bounding box of what remains.

Example:
    >>> import numpy as np
    >>> image = np.full((40, 50), -1024, np.int16); image[10:30, 5:45] = 40
    >>> crop, offset = crop_black_border(image)
    >>> crop.shape, offset
    ((20, 40), (10, 5))
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def body_bounding_box(image_hu, threshold: float = -768.0, opening_size: int = 7):
    """``(y0, y1, x0, x1)`` (end-exclusive) of the pixels above ``threshold`` after an opening, or ``None``.

    ``None`` means nothing survives the opening (an empty or all-air slice).

    Example:
        >>> import numpy as np
        >>> image = np.full((20, 20), -1000); image[2:12, 4:15] = 0; image[18, 18] = 500  # a speck
        >>> body_bounding_box(image)
        (2, 12, 4, 15)
    """
    image = np.asarray(image_hu)
    if image.ndim != 2:
        raise ValueError(f"expected one (H, W) slice; got shape {image.shape}")
    mask = image > threshold
    if opening_size > 1:
        mask = ndimage.binary_opening(mask, structure=np.ones((opening_size, opening_size), bool))
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def crop_black_border(image_hu, threshold: float = -768.0, opening_size: int = 7,
                      reference_slice: int | None = None):
    """Crop to the body; returns ``(crop, (y_offset, x_offset))`` with crop a view of the input.

    ``image_hu`` is ``(H, W)`` or a stack ``(N, H, W)``; a stack is cropped as one, with the box found
    on ``reference_slice`` (default: the centre slice ``N // 2``, the key slice of a context stack).
    Where no body is found the image is returned whole with offset ``(0, 0)``.
    Add the offset to boxes found in the crop (:func:`uncrop_boxes`) to get original coordinates.

    Example:
        >>> import numpy as np
        >>> stack = np.full((3, 30, 30), -2048); stack[:, 8:20, 9:29] = 100
        >>> crop, offset = crop_black_border(stack)
        >>> crop.shape, offset
        ((3, 12, 20), (8, 9))
    """
    image = np.asarray(image_hu)
    if image.ndim == 2:
        reference = image
    elif image.ndim == 3:
        index = image.shape[0] // 2 if reference_slice is None else int(reference_slice)
        reference = image[index]
    else:
        raise ValueError(f"expected an (H, W) or (N, H, W) image; got shape {image.shape}")
    box = body_bounding_box(reference, threshold, opening_size)
    if box is None:
        return image, (0, 0)
    y0, y1, x0, x1 = box
    return image[..., y0:y1, x0:x1], (y0, x0)


def uncrop_boxes(boxes, offset):
    """Boxes ``[..., 4]`` (x1, y1, x2, y2) in a crop -> coordinates in the uncropped image.

    Example:
        >>> import numpy as np
        >>> uncrop_boxes(np.array([[0, 0, 5, 5, 0.7]]), (8, 9)).tolist()
        [[9.0, 8.0, 14.0, 13.0, 0.7]]
    """
    y0, x0 = offset
    out = np.array(boxes, dtype=np.float64)
    out[..., :4] += np.array([x0, y0, x0, y0], dtype=np.float64)
    return out
