"""Frames per second while scrolling a 512 x 512 CT with 50 boxes on every slice, against a bare peer.

Ours: the real main window (axial view with windowing, the box overlay with score labels, the
crosshair, corner text and scale bar, plus both reformats following the crosshair), driven the
way the wheel drives it (``ViewState.set_slice``).
Peer, in the same run and at the same size: pyqtgraph's plain ``ImageItem.setImage`` of the raw
slice with levels, in a bare ViewBox, nothing else drawn.

Two ways of painting a frame are timed for both: "event loop" (``processEvents()`` paints what
changed, as in real use; every frame is checked to have painted) and "full repaint" (every view
repainted whole, synchronously: the worst case).

Usage::

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_view.py          # or under xvfb-run
    python benchmarks/bench_view.py --slices 60 --frames 300 --boxes 50

Prints both frame rates and their ratio (ours / peer). Target: ours >= 60 frames per second.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

os.environ.setdefault("LESIONVIEWER_HOME", tempfile.mkdtemp(prefix="bench_view_"))


def make_volume(num_slices: int, size: int = 512):
    from lesionviewer.io import Volume

    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[0:num_slices, 0:size, 0:size].astype(np.float32)
    body = ((y - size / 2) / (size * 0.42)) ** 2 + ((x - size / 2) / (size * 0.46)) ** 2 <= 1
    hu = np.where(body, 40.0, -1000.0) + rng.normal(0, 15, size=(num_slices, size, size))
    return Volume(hu.astype(np.int16), spacing=(2.5, 0.75, 0.75), origin=(-192.0, -192.0, -300.0),
                  meta={"SeriesInstanceUID": "1.2.826.0.1.3680043.8.498.4242", "SeriesDescription": "Bench CT"})


def findings_for(volume, per_slice: int):
    from lesionviewer.detection.finding import Finding

    rng = np.random.default_rng(1)
    out = []
    for z in range(volume.num_slices):
        for _ in range(per_slice):
            x1, y1 = rng.uniform(40, 440, size=2)
            w, h = rng.uniform(8, 40, size=2)
            out.append(Finding.from_pixel_box(volume, z, (x1, y1, x1 + w, y1 + h), float(rng.uniform(0.6, 1.0)),
                                              "bench"))
    return out


class PaintCounter:
    """Counts paint events of some widgets (to check that a frame really painted)."""

    def __init__(self, widgets):
        from PySide6.QtCore import QEvent, QObject

        counter = self

        class Filter(QObject):
            def eventFilter(self, obj, event):  # noqa: N802 - Qt API
                if event.type() == QEvent.Paint:
                    counter.count += 1
                return False

        self.count = 0
        self.filter = Filter()
        for widget in widgets:
            widget.installEventFilter(self.filter)


def measure(step, paint, frames: int) -> float:
    """Frames per second of ``step(i); paint()`` over ``frames`` frames (after a short warm-up)."""
    for i in range(10):
        step(i)
        paint()
    start = time.perf_counter()
    for i in range(frames):
        step(i)
        paint()
    return frames / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=60)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--boxes", type=int, default=50, help="boxes on every slice")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args(argv)

    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from lesionviewer_app.main_window import MainWindow
    from lesionviewer_app.settings import ViewerSettings

    volume = make_volume(args.slices)
    window = MainWindow(ViewerSettings(auto_detect=False))
    window.resize(args.width, args.height)
    window.show()
    window.show_volume(volume)
    session = window.bridge.session
    session.set_threshold(0.5)
    session.add_findings(findings_for(volume, args.boxes), slices=range(volume.num_slices))
    app.processEvents()
    views = (window.axial, window.coronal, window.sagittal)
    n = volume.num_slices

    def our_step(i: int) -> None:
        window.state.set_slice(i % n)

    def our_paint() -> None:
        for view in views:
            view.viewport().repaint()

    shown = len(window.axial.boxes.boxes)
    axial_paints = PaintCounter([window.axial.viewport()])
    ours_loop = measure(our_step, app.processEvents, args.frames)
    painted = axial_paints.count
    ours_full = measure(our_step, our_paint, args.frames)

    peer_view = pg.GraphicsView()
    peer_box = pg.ViewBox(lockAspect=True, invertY=True)
    peer_view.setCentralItem(peer_box)
    peer_image = pg.ImageItem(axisOrder="row-major")
    peer_box.addItem(peer_image)
    peer_view.resize(window.axial.width(), window.axial.height())
    peer_view.show()
    levels = (window.state.level - window.state.width / 2, window.state.level + window.state.width / 2)
    peer_image.setImage(volume.hu[0], levels=levels, autoLevels=False)
    peer_box.autoRange(padding=0)
    app.processEvents()

    def peer_step(i: int) -> None:
        peer_image.setImage(volume.hu[i % n], levels=levels, autoLevels=False)

    peer_paints = PaintCounter([peer_view.viewport()])
    peer_loop = measure(peer_step, app.processEvents, args.frames)
    peer_painted = peer_paints.count
    peer_full = measure(peer_step, lambda: peer_view.viewport().repaint(), args.frames)

    frames = args.frames + 10
    print(f"platform: {app.platformName()}  volume: {volume.shape}  boxes on the shown slice: {shown}")
    print(f"axial view {window.axial.width()}x{window.axial.height()} px, reformats "
          f"{window.coronal.width()}x{window.coronal.height()} px; paints seen: ours {painted}/{frames} frames, "
          f"peer {peer_painted}/{frames}")
    print("                                         event loop    full repaint   (frames per second)")
    print(f"ours (W/L, {shown} labelled boxes, 3 views):  {ours_loop:8.1f}      {ours_full:8.1f}")
    print(f"peer (bare ImageItem.setImage, 1 view):  {peer_loop:8.1f}      {peer_full:8.1f}")
    print(f"ratio ours/peer:                         {ours_loop / peer_loop:8.2f}      {ours_full / peer_full:8.2f}")
    print(f"target >= 60 frames/s (event loop): {'met' if ours_loop >= 60 else 'NOT met'}")
    window.bridge.set_session(None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
