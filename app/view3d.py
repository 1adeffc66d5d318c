"""The 3D view, on demand: a volume rendering of the study with the findings as spheres.

:class:`Scene3D` builds the vtk pipeline (no Qt, so a test can check it without a screen);
:class:`View3D` puts it in a Qt widget (vtk's ``QVTKRenderWindowInteractor``) and turns a click
on a marker into ``marker_clicked(finding_id)``, which makes the slice views jump to it.
Coordinates are voxel index times spacing (mm from the first voxel), the same for image and markers.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import vtkmodules.qt

vtkmodules.qt.PyQtImpl = "PySide6"  # before the Qt interactor module is imported

from PySide6.QtCore import Signal  # noqa: E402 - after PyQtImpl is set
from PySide6.QtWidgets import QVBoxLayout, QWidget  # noqa: E402 - after PyQtImpl is set
from vtkmodules.util.numpy_support import numpy_to_vtk  # noqa: E402 - after PyQtImpl is set
from vtkmodules.vtkCommonCore import VTK_SHORT  # noqa: E402 - after PyQtImpl is set
from vtkmodules.vtkCommonDataModel import vtkImageData, vtkPiecewiseFunction  # noqa: E402 - after PyQtImpl is set
from vtkmodules.vtkFiltersSources import vtkSphereSource  # noqa: E402 - after PyQtImpl is set
from vtkmodules.vtkRenderingCore import (vtkActor, vtkColorTransferFunction, vtkPolyDataMapper,  # noqa: E402 - after PyQtImpl is set
                                         vtkPropCollection, vtkPropPicker, vtkRenderer, vtkVolume,
                                         vtkVolumeProperty)
import vtkmodules.vtkRenderingOpenGL2  # noqa: E402,F401 - registers the OpenGL back end
import vtkmodules.vtkRenderingVolumeOpenGL2  # noqa: E402,F401 - registers the GPU volume mapper
from vtkmodules.vtkRenderingVolume import vtkFixedPointVolumeRayCastMapper  # noqa: E402 - after PyQtImpl is set

#: Largest edge rendered; bigger volumes are subsampled so the 3D view opens in a second.
MAX_EDGE = 160


def downsample_factors(shape: tuple[int, int, int], max_edge: int = MAX_EDGE) -> tuple[int, int, int]:
    """Integer strides (z, y, x) that bring every edge to at most ``max_edge`` voxels."""
    return tuple(max(1, int(np.ceil(n / max_edge))) for n in shape)  # type: ignore[return-value]


class Scene3D:
    """A vtk renderer holding the volume rendering and one sphere actor per finding."""

    def __init__(self):
        self.renderer = vtkRenderer()
        self.renderer.SetBackground(0.05, 0.05, 0.08)
        self.volume_actor: vtkVolume | None = None
        self.marker_actors: dict[str, vtkActor] = {}
        self.spacing = (1.0, 1.0, 1.0)

    def set_volume(self, volume: Any) -> None:
        """Render ``volume`` (bone and soft tissue transfer functions)."""
        if self.volume_actor is not None:
            self.renderer.RemoveVolume(self.volume_actor)
        steps = downsample_factors(volume.shape)
        hu = np.ascontiguousarray(volume.hu[::steps[0], ::steps[1], ::steps[2]])
        self.spacing = (volume.spacing[2], volume.spacing[1], volume.spacing[0])  # x, y, z
        image = vtkImageData()
        image.SetDimensions(hu.shape[2], hu.shape[1], hu.shape[0])
        image.SetSpacing(self.spacing[0] * steps[2], self.spacing[1] * steps[1], self.spacing[2] * steps[0])
        scalars = numpy_to_vtk(hu.ravel(order="C"), deep=True, array_type=VTK_SHORT)
        image.GetPointData().SetScalars(scalars)
        self._image = image
        # which way the head is along the slice axis (index may run head-to-feet)
        self._up = 1.0 if float(np.asarray(volume.direction, float)[2, 2]) >= 0 else -1.0
        colors = vtkColorTransferFunction()
        colors.AddRGBPoint(-1000, 0.0, 0.0, 0.0)
        colors.AddRGBPoint(-300, 0.55, 0.35, 0.3)
        colors.AddRGBPoint(40, 0.9, 0.6, 0.5)
        colors.AddRGBPoint(400, 1.0, 1.0, 0.95)
        # Soft tissue nearly clear, bone solid: the markers must stay visible inside the body.
        opacity = vtkPiecewiseFunction()
        opacity.AddPoint(-1000, 0.0)
        opacity.AddPoint(-300, 0.0)
        opacity.AddPoint(0, 0.004)
        opacity.AddPoint(120, 0.01)
        opacity.AddPoint(300, 0.25)
        opacity.AddPoint(1000, 0.8)
        prop = vtkVolumeProperty()
        prop.SetColor(colors)
        prop.SetScalarOpacity(opacity)
        prop.SetInterpolationTypeToLinear()
        prop.ShadeOn()
        mapper = vtkFixedPointVolumeRayCastMapper()
        mapper.SetInputData(image)
        self.volume_actor = vtkVolume()
        self.volume_actor.SetMapper(mapper)
        self.volume_actor.SetProperty(prop)
        self.renderer.AddVolume(self.volume_actor)
        self.look_from_the_front()

    def look_from_the_front(self) -> None:
        """Camera in front of the patient (anterior), head up, turned a little for depth."""
        if self.volume_actor is None:
            return
        x0, x1, y0, y1, z0, z1 = self.volume_actor.GetBounds()
        centre = ((x0 + x1) / 2, (y0 + y1) / 2, (z0 + z1) / 2)
        camera = self.renderer.GetActiveCamera()
        camera.SetFocalPoint(*centre)
        # array rows run posterior in LPS, so the front of the patient is towards -y
        camera.SetPosition(centre[0], centre[1] - 3 * max(x1 - x0, z1 - z0), centre[2])
        camera.SetViewUp(0, 0, getattr(self, "_up", 1.0))
        camera.Azimuth(-25)
        camera.Elevation(15)
        self.renderer.ResetCamera()
        camera.Zoom(1.4)
        self.renderer.ResetCameraClippingRange()

    def render_to_array(self, width: int = 400, height: int = 400) -> np.ndarray:
        """Render off screen (no window) and return the RGB picture, shape (height, width, 3).

        For tests and documentation pictures of a scene that is not shown in a :class:`View3D`
        (a renderer belongs to one render window).
        """
        from vtkmodules.util.numpy_support import vtk_to_numpy
        from vtkmodules.vtkRenderingCore import vtkRenderWindow, vtkWindowToImageFilter

        window = vtkRenderWindow()
        window.SetOffScreenRendering(1)
        window.AddRenderer(self.renderer)
        window.SetSize(width, height)
        window.Render()
        grab = vtkWindowToImageFilter()
        grab.SetInput(window)
        grab.Update()
        image = grab.GetOutput()
        w, h, _ = image.GetDimensions()
        pixels = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(h, w, -1)[::-1, :, :3]
        self._offscreen_window = window  # the renderer stays in it, so picking works afterwards
        return np.ascontiguousarray(pixels)

    def display_position(self, finding_id: str) -> tuple[int, int]:
        """Display (x, y) of a marker's centre in the last rendered window (y from the bottom, as vtk)."""
        actor = self.marker_actors[finding_id]
        x0, x1, y0, y1, z0, z1 = actor.GetBounds()
        self.renderer.SetWorldPoint((x0 + x1) / 2, (y0 + y1) / 2, (z0 + z1) / 2, 1.0)
        self.renderer.WorldToDisplay()
        x, y, _ = self.renderer.GetDisplayPoint()
        return int(round(x)), int(round(y))

    def set_findings(self, findings: list[Any]) -> None:
        """One sphere per reviewed finding at its box centre, sized by its long axis, red to yellow by score."""
        for actor in self.marker_actors.values():
            self.renderer.RemoveActor(actor)
        self.marker_actors = {}
        for reviewed in findings:
            f = reviewed.finding
            x1, y1, x2, y2 = f.box_px
            centre = ((x1 + x2) / 2 * self.spacing[0], (y1 + y2) / 2 * self.spacing[1],
                      (f.slice_index + 0.5) * self.spacing[2])
            sphere = vtkSphereSource()
            sphere.SetCenter(*centre)
            sphere.SetRadius(max(f.long_axis_mm / 2, 3.0))
            sphere.SetThetaResolution(16)
            sphere.SetPhiResolution(16)
            mapper = vtkPolyDataMapper()
            mapper.SetInputConnection(sphere.GetOutputPort())
            actor = vtkActor()
            actor.SetMapper(mapper)
            score = min(max(f.score, 0.0), 1.0)
            actor.GetProperty().SetColor(1.0, 1.0 - score, 0.0)
            actor.GetProperty().SetOpacity(0.85)
            self.renderer.AddActor(actor)
            self.marker_actors[reviewed.id] = actor

    def finding_at(self, x: int, y: int) -> str | None:
        """Id of the marker under display position (x, y), or None."""
        if not self.marker_actors:
            return None
        markers = vtkPropCollection()
        for actor in self.marker_actors.values():
            markers.AddItem(actor)
        picker = vtkPropPicker()
        # only markers can be picked: the volume rendering is in front of most of them
        if not picker.PickProp(x, y, self.renderer, markers):
            return None
        picked = picker.GetViewProp()
        return next((fid for fid, actor in self.marker_actors.items() if actor is picked), None)


class View3D(QWidget):
    """The 3D dock's widget; raises when no OpenGL context can be made (the caller shows a message)."""

    marker_clicked = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor

        self.scene = Scene3D()
        self.interactor = QVTKRenderWindowInteractor(self)
        self.interactor.GetRenderWindow().AddRenderer(self.scene.renderer)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.interactor)
        self.interactor.AddObserver("LeftButtonPressEvent", self._clicked, 1.0)
        self.interactor.Initialize()
        self.setMinimumHeight(250)

    def set_volume(self, volume: Any) -> None:
        self.scene.set_volume(volume)
        self.interactor.GetRenderWindow().Render()

    def set_findings(self, findings: list[Any]) -> None:
        self.scene.set_findings(findings)
        self.interactor.GetRenderWindow().Render()

    def _clicked(self, caller, _event) -> None:
        x, y = caller.GetEventPosition()
        finding_id = self.scene.finding_at(x, y)
        if finding_id is not None:
            self.marker_clicked.emit(finding_id)
