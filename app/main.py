"""Entry point of the ``lesionviewer`` command: parse the arguments, open the window.

``lesionviewer [PATH]`` opens a DICOM folder or file, or a NIfTI/NRRD/MetaImage file; without a
path it opens the sample study where the library provides one.
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
    parser.add_argument("--no-detect", action="store_true", help="do not run the detector when a study opens")
    parser.add_argument("--version", action="version", version=f"%(prog)s {lesionviewer.__version__}")
    return parser


def sample_study_path() -> Path | None:
    """The library's sample study (written to the cache on first use), or None where there is none."""
    try:
        from lesionviewer import phantom
    except ImportError:
        return None
    for name in ("sample_study_path", "sample_study", "ensure_sample_study"):
        helper = getattr(phantom, name, None)
        if callable(helper):
            try:
                result = helper()
            except Exception:  # noqa: BLE001 - no sample is not a reason to refuse to start
                return None
            return Path(result) if result is not None else None
    return None


def main(argv: list[str] | None = None) -> int:
    """Start the viewer; returns the process exit status."""
    args = build_parser().parse_args(argv)

    from PySide6.QtWidgets import QApplication

    from lesionviewer_app.main_window import MainWindow
    from lesionviewer_app.settings import ViewerSettings

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("LesionViewer")
    settings = ViewerSettings.load()
    if args.no_detect:
        settings.auto_detect = False
    if args.device:
        settings.device = args.device
    window = MainWindow(settings)
    if args.model:
        window.use_model(args.model, show_card=False)
    window.show()
    path = Path(args.path) if args.path else sample_study_path()
    if path is not None:
        window.open_path(path)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
