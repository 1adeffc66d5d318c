"""Synthetic lesions inserted into real CT, with exact ground truth (for training on real anatomy).

A real CT keeps every bone, vessel, bowel loop and the table as true negatives; only the lesion
is synthetic: an elastically deformed ellipsoid with filtered-noise texture, a HU contrast drawn
per DeepLesion lesion type, partial-volume blending over the slice thickness, the host's own
noise texture, optional mass effect and capsule (after Hu et al., CVPR 2023). ``tissue`` finds
where each of DeepLesion's eight types may sit in a host volume (organ labels where given, HU
rules elsewhere); ``insert`` places lesions and measures them as DeepLesion would (RECIST axes,
boxes with 5 px padding, key slice); ``training_data`` writes DeepLesion-layout training folders.

Example:
    >>> from lesionviewer.synthesis import LESION_TYPES
    >>> LESION_TYPES[4]
    'liver'
"""
from lesionviewer.synthesis.statistics import LESION_TYPES, sample_long_axis_mm
from lesionviewer.synthesis.tissue import TissueMaps, labels_on_volume_grid
from lesionviewer.synthesis.insert import SynthesisResult, SyntheticLesion, insert_lesions

__all__ = ["LESION_TYPES", "sample_long_axis_mm", "TissueMaps", "labels_on_volume_grid", "SynthesisResult",
           "SyntheticLesion", "insert_lesions"]
