"""lesionviewer.imaging: pure numpy/torch preprocessing shared by the viewer, the detector and the trainer.

* windowing: :func:`window`, :func:`clip_and_scale_mp3d`, :func:`normalize_mp3d`, MP3D constants
* presets: :data:`WINDOW_PRESETS`, :data:`PRESET_KEYS`, :func:`auto_window`
* context: :func:`context_stack`, :class:`ContextStacker`, :func:`context_sample_points`
* slice sources: :class:`ArraySliceSource`, :class:`PngSliceSource`, :class:`CallableSliceSource`
* resampling: :func:`resample_inplane`, :func:`resize_with_scale`, :func:`pad_to_multiple`,
  :func:`scale_boxes`, :func:`unscale_boxes`
* border: :func:`crop_black_border`, :func:`uncrop_boxes`

Example:
    >>> import numpy as np
    >>> stack = context_stack(np.zeros((5, 8, 8), np.int16), 1.0, 2, 3, 2.0)
    >>> clip_and_scale_mp3d(stack).shape
    (3, 8, 8)
"""
from lesionviewer.imaging.border import body_bounding_box, crop_black_border, uncrop_boxes
from lesionviewer.imaging.context import (
    ContextStacker,
    context_sample_points,
    context_stack,
    slice_positions,
)
from lesionviewer.imaging.presets import (
    HEADER_WINDOW_KEY,
    PRESET_KEYS,
    WINDOW_PRESETS,
    WindowPreset,
    auto_window,
    preset_by_name,
)
from lesionviewer.imaging.resampling import (
    pad_to_multiple,
    resample_inplane,
    rescale,
    resize_with_scale,
    scale_boxes,
    unscale_boxes,
)
from lesionviewer.imaging.slice_source import (
    DEEPLESION_HU_OFFSET,
    ArraySliceSource,
    CallableSliceSource,
    PngSliceSource,
    SliceSource,
    as_slice_source,
)
from lesionviewer.imaging.windowing import (
    MP3D_HU_MAX,
    MP3D_HU_MIN,
    MP3D_MEAN,
    MP3D_STD,
    clip_and_scale_mp3d,
    normalize_mp3d,
    window,
)

__all__ = [
    "ArraySliceSource", "CallableSliceSource", "ContextStacker", "DEEPLESION_HU_OFFSET", "HEADER_WINDOW_KEY",
    "MP3D_HU_MAX", "MP3D_HU_MIN", "MP3D_MEAN", "MP3D_STD", "PRESET_KEYS", "PngSliceSource", "SliceSource",
    "WINDOW_PRESETS", "WindowPreset", "as_slice_source", "auto_window", "body_bounding_box",
    "clip_and_scale_mp3d", "context_sample_points", "context_stack", "crop_black_border",
    "normalize_mp3d", "pad_to_multiple", "preset_by_name", "resample_inplane", "rescale",
    "resize_with_scale", "scale_boxes", "slice_positions", "uncrop_boxes", "unscale_boxes", "window",
]
