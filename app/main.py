"""Entry point of the ``lesionviewer`` command: parse the arguments, open the window.

``lesionviewer [PATH]`` opens a DICOM folder or file, or a NIfTI/NRRD/MetaImage file; without a
path it opens the sample study where the library provides one. Before Qt starts, a check
(:mod:`lesionviewer_app.startup_check`) names any system library the window needs and lacks, with
the ``apt-get install`` line, and exits with status 3 instead of Qt's core dump.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import lesionviewer


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface (also used by ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="lesionviewer",
        description="LesionViewer: a CT viewer that finds lesions with a 3D-context detector. "
                    "Not for clinical use.")
    parser.add_argument("path", nargs="?", help="a DICOM folder or file, or a NIfTI/NRRD/MHA file "
                                                "(default: the sample study)")
    parser.add_argument("--model", help="a detector model file (.safetensors) to use instead of the default")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where the detector runs")
    parser.add_argument("--no-detect", action="store_true",
                        help="do not run the detector when a study opens (this run only; "
                             "Detection > Detect when a study opens turns it back on)")
    parser.add_argument("--risk-model", help="a risk model file (.safetensors) to use instead of the default")
    parser.add_argument("--no-risk", action="store_true",
                        help="do not compute the risk score when a study opens (this run only)")
    parser.add_argument("--slice", type=_slice_number, metavar="N",
                        help="open the study at axial slice N (1 = the first, as the image overlay counts); "
                             "detection starts there")
    parser.add_argument("--window", type=_window_preset, metavar="PRESET",
                        help="open the study in this window preset (by name, e.g. lung; an unknown name "
                             "lists the known ones) instead of the file's own window")
    parser.add_argument("--screenshot", metavar="PNG",
                        help="once the study is open and detection has finished, show the top finding "
                             "(or slice N with --slice), save a picture of the window to PNG and quit")
    parser.add_argument("--version", action="version", version=f"%(prog)s {lesionviewer.__version__}")
    return parser


def _slice_number(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"a slice number counts from 1, not {text!r}")
    return number


def _window_preset(text: str):
    from lesionviewer.imaging.presets import preset_by_name

    try:
        return preset_by_name(text)
    except KeyError as error:
        raise argparse.ArgumentTypeError(error.args[0]) from None


def open_next_study_at(window, slice_number: int | None = None, preset=None) -> None:
    """When the next study is shown, move to axial slice ``slice_number`` (1-based, clamped) and/or
    apply the window ``preset`` (a :class:`~lesionviewer.imaging.presets.WindowPreset`).

    The move happens as the volume arrives, before detection starts, so the detector's
    nearest-first order begins at that slice. Later studies open at their middle, in their own window.

    Example:
        >>> from types import SimpleNamespace
        >>> import numpy as np
        >>> from lesionviewer.imaging.presets import preset_by_name
        >>> from lesionviewer.io import Volume
        >>> from lesionviewer_app.view_state import ViewState
        >>> window = SimpleNamespace(state=ViewState())
        >>> open_next_study_at(window, 3, preset_by_name("lung"))
        >>> window.state.set_volume(Volume(np.zeros((5, 4, 4), np.int16), (2.5, 1.0, 1.0)))
        >>> window.state.slice_index, window.state.width, window.state.level
        (2, 1500.0, -600.0)
    """
    state = window.state

    def apply() -> None:
        if state.volume is None:
            return
        state.volume_changed.disconnect(apply)
        if slice_number is not None:
            state.set_slice(slice_number - 1)
        if preset is not None:
            state.set_window(preset.width, preset.level)

    state.volume_changed.connect(apply)


def settings_for_this_run(settings, args: argparse.Namespace) -> None:
    """Apply the command-line options to ``settings`` for this run only (never saved; see ViewerSettings)."""
    values: dict[str, object] = {}
    if args.no_detect:
        values["auto_detect"] = False
    if args.no_risk:
        values["auto_risk"] = False
    if args.device:
        values["device"] = args.device
    if args.model:
        values["model_path"] = str(args.model)
    if args.risk_model:
        values["risk_model_path"] = str(args.risk_model)
    settings.for_this_run(**values)


def sample_study_path() -> Path | None:
    """The bundled sample study (a phantom written to the user's cache on first use), or None.

    A sample that cannot be made is no reason to refuse to start: the reason is printed and the
    viewer opens empty.
    """
    from lesionviewer.sample import sample_study_path as make_sample

    try:
        return Path(make_sample())
    except Exception as error:  # noqa: BLE001 - the viewer must still start
        print(f"lesionviewer: the sample study could not be prepared ({error}); opening no study", file=sys.stderr)
        return None


def screenshot_when_idle(window, path: str | Path, delay_ms: int = 800, timeout_s: float = 600.0,
                         show_top_finding: bool = True) -> None:
    """When loading, detection and the risk score are over, jump to the top-scoring finding, save a PNG, quit.

    With ``show_top_finding=False`` the picture shows the slice on screen (``--slice``) instead.

    For the documentation and as a smoke test of a whole start-up (``--screenshot``).
    """
    import time

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    started = time.monotonic()
    timer = QTimer(window)
    timer.setInterval(200)

    def busy() -> bool:
        loading = window.load_job is not None and window.load_job.is_running
        return loading or window.runner.is_running or window.risk_runner.is_running or window.state.volume is None

    def check() -> None:
        if busy() and time.monotonic() - started < timeout_s:
            return
        timer.stop()
        session = window.bridge.session
        if show_top_finding and session is not None and session.visible_findings():
            best = max(session.visible_findings(), key=lambda f: f.score)
            window.panel.choose(best.id)

        def grab() -> None:
            window.grab().save(str(path))
            window.close()
            app = QApplication.instance()
            if app is not None:
                app.quit()

        QTimer.singleShot(delay_ms, grab)

    timer.timeout.connect(check)
    QTimer.singleShot(1000, timer.start)  # give the load job time to start


def main(argv: list[str] | None = None) -> int:
    """Start the viewer; returns the process exit status."""
    args = build_parser().parse_args(argv)

    from lesionviewer_app.startup_check import EXIT_NO_WINDOW, startup_problem

    problem = startup_problem()  # before Qt, which would abort with a core dump
    if problem is not None:
        print(problem, file=sys.stderr)
        return EXIT_NO_WINDOW

    from PySide6.QtWidgets import QApplication

    from lesionviewer_app.main_window import MainWindow
    from lesionviewer_app.settings import ViewerSettings

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("LesionViewer")
    settings = ViewerSettings.load()
    settings_for_this_run(settings, args)
    window = MainWindow(settings)
    if args.model:
        window.use_model(args.model, show_card=False)
    if args.risk_model:
        window.use_risk_model(args.risk_model, run=False)
    window.show()
    path = Path(args.path) if args.path else sample_study_path()
    if path is not None:
        if args.slice or args.window:
            open_next_study_at(window, args.slice, args.window)
        window.open_path(path)
    if args.screenshot:
        screenshot_when_idle(window, args.screenshot, show_top_finding=not args.slice)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
