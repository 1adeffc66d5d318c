"""Coronal and sagittal reformats (MPR) beside the axial view, with the findings marked on them.

A reformat is a :class:`SliceView` of another plane: its image item is scaled by the slice spacing
in one direction and the pixel spacing in the other, so the aspect is right even for thick slices;
the head is at the top. A finding, a box on one axial slice, becomes a one-slice-high bar across
its extent on the reformat.
"""
from __future__ import annotations

from PySide6.QtWidgets import QGraphicsItem

from lesionviewer_app.findings_overlay import OverlayBox
from lesionviewer_app.slice_view import SliceView
from lesionviewer_app.view_state import ViewState


class ReformatView(SliceView):
    """A coronal or sagittal view of the study, linked to the others through the shared state."""

    def __init__(self, state: ViewState, plane: str, parent=None):
        if plane not in ("coronal", "sagittal"):
            raise ValueError(f"a reformat is coronal or sagittal, not {plane!r}")
        super().__init__(state, plane, parent)
        # While scrolling the axial view only the crosshair moves here: keep the drawn image.
        self.image_item.setCacheMode(QGraphicsItem.DeviceCoordinateCache)

    def marker_for(self, slice_index: int, box_px, score: float, status: str = "pending",
                   selected: bool = False) -> OverlayBox:
        """The bar that marks an axial box ``(x1, y1, x2, y2)`` on ``slice_index`` in this plane."""
        x1, y1, x2, y2 = box_px
        low, high = (x1, x2) if self.plane == "coronal" else (y1, y2)
        return OverlayBox(low, slice_index, high, slice_index + 1, score, "", status, selected)

    def crosses_plane(self, box_px) -> bool:
        """Whether the axial box is cut by the plane shown now (others are drawn fainter)."""
        x1, y1, x2, y2 = box_px
        low, high = (y1, y2) if self.plane == "coronal" else (x1, x2)
        return low <= self.fixed_index + 0.5 <= high
