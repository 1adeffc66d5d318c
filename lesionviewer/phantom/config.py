"""Settings of the phantom generator: matrix, field of view, slices, noise, lesions.

Three presets: ``small`` (128 x 128, 24 slices: tests and the demo model on a laptop),
``medium`` (256 x 256, 32 slices) and ``full`` (512 x 512, 60 slices at DeepLesion-like
0.6-0.98 mm pixels and 1, 2 or 5 mm slices).

Example:
    >>> cfg = PhantomConfig.preset("small")
    >>> cfg.matrix, cfg.num_slices
    (128, 24)
    >>> PhantomConfig.preset("full").matrix
    512
"""
from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class PhantomConfig:
    """What one generated series looks like. Tuples of two numbers are ranges drawn per patient.

    Example:
        >>> PhantomConfig(matrix=64, num_slices=8).validated().matrix
        64
    """

    matrix: int = 512
    num_slices: int = 60
    field_of_view_mm: tuple[float, float] = (320.0, 500.0)
    slice_intervals_mm: tuple[float, ...] = (1.0, 2.0, 5.0)
    slice_interval_weights: tuple[float, ...] = (0.45, 0.05, 0.5)
    # slice thickness / interval: 1 = contiguous (most DeepLesion series); 1.5 = e.g. 3 mm slices every 2 mm
    thickness_over_interval: float = 1.0
    noise_std_hu: tuple[float, float] = (8.0, 14.0)  # at 5 mm slices and 0.75 mm pixels
    psf_fwhm_mm: tuple[float, float] = (0.9, 1.3)
    lesions_per_patient: tuple[int, int] = (1, 5)  # at most; types not in the scanned window are skipped
    lesion_diameter_mm: tuple[float, float] = (5.0, 80.0)
    phase: str | None = None  # None: drawn per patient
    fine_step_mm: float = 1.25  # sub-slice step for partial volume across the slice
    box_padding_px: float = 5.0  # DeepLesion pads the RECIST extent by 5 pixels
    # DeepLesion marks one lesion per row on its own key slice, so other lesions crossing that slice
    # go unmarked (the dataset's known incompleteness). With this on, every lesion whose cross-section
    # on a key slice is at least ``annotate_min_mm`` long gets a row there too (complete key slices).
    annotate_all_visible: bool = False
    # Scales each lesion's HU difference from the tissue it replaces; 1 = the realistic contrasts
    # of lesions.py. The demo detector's data uses more (docs/training.md says why and how much).
    lesion_contrast: float = 1.0
    annotate_min_mm: float = 5.0

    @staticmethod
    def preset(name: str) -> "PhantomConfig":
        """``"small"``, ``"medium"`` or ``"full"``.

        Example:
            >>> PhantomConfig.preset("medium").matrix
            256
        """
        if name == "small":
            return PhantomConfig(matrix=128, num_slices=24, slice_intervals_mm=(2.5, 5.0), slice_interval_weights=(0.3, 0.7), fine_step_mm=2.5)
        if name == "medium":
            return PhantomConfig(matrix=256, num_slices=32, slice_intervals_mm=(2.0, 5.0), slice_interval_weights=(0.4, 0.6), fine_step_mm=1.7)
        if name == "full":
            return PhantomConfig()
        raise ValueError(f"unknown phantom size {name!r}; choose small, medium or full")

    def with_(self, **changes) -> "PhantomConfig":
        """A copy with some fields changed (checked).

        Example:
            >>> PhantomConfig.preset("small").with_(num_slices=10).num_slices
            10
        """
        return replace(self, **changes).validated()

    def validated(self) -> "PhantomConfig":
        """Self, after checking every field is in a sensible range (``ValueError`` naming the field otherwise).

        Example:
            >>> PhantomConfig(matrix=8).validated()
            Traceback (most recent call last):
            ...
            ValueError: matrix must be between 32 and 1024 pixels, got 8
        """
        if not 32 <= self.matrix <= 1024:
            raise ValueError(f"matrix must be between 32 and 1024 pixels, got {self.matrix}")
        if not 1 <= self.num_slices <= 999:
            raise ValueError(f"num_slices must be between 1 and 999, got {self.num_slices}")
        lo, hi = self.field_of_view_mm
        if not 100.0 <= lo <= hi <= 700.0:
            raise ValueError(f"field_of_view_mm must be an increasing range within 100-700 mm, got {self.field_of_view_mm}")
        if not self.slice_intervals_mm or any(not 0.2 <= s <= 10.0 for s in self.slice_intervals_mm):
            raise ValueError(f"slice_intervals_mm must hold values within 0.2-10 mm, got {self.slice_intervals_mm}")
        if len(self.slice_interval_weights) != len(self.slice_intervals_mm) or min(self.slice_interval_weights) < 0 or sum(self.slice_interval_weights) <= 0:
            raise ValueError("slice_interval_weights must give one non-negative weight per slice interval")
        a, b = self.lesions_per_patient
        if not 0 <= a <= b <= 20:
            raise ValueError(f"lesions_per_patient must be a range within 0-20, got {self.lesions_per_patient}")
        if not 0.5 <= self.lesion_diameter_mm[0] <= self.lesion_diameter_mm[1] <= 200:
            raise ValueError(f"lesion_diameter_mm must be an increasing range within 0.5-200 mm, got {self.lesion_diameter_mm}")
        if not 0.5 <= self.thickness_over_interval <= 3.0:
            raise ValueError(f"thickness_over_interval must be within 0.5-3, got {self.thickness_over_interval}")
        if self.fine_step_mm <= 0:
            raise ValueError(f"fine_step_mm must be positive, got {self.fine_step_mm}")
        return self
