"""``LesionViewer --self-test``: prove that an installed or bundled viewer works, without a user.

It starts the real main window (off screen when there is no display), opens the sample study,
runs the demo model through the viewer's own detection path on a few slices, scores the study
with the shipped risk model (when there is one) through the Risk panel, and checks that
the parts a bundler can silently leave out are there: the pydicom decoder plugins (JPEG
Lossless, JPEG-LS, JPEG 2000, RLE), the Qt platform and image-format plugins, the vtk modules
of the 3D view and the ``resources/`` folder. It prints one line per check and returns 0 when
all passed, 1 otherwise (with the reason on the failed line). A watchdog ends the process with
status 1 if the whole run takes longer than ``--timeout`` seconds, so it never hangs a build.

Nothing of the user's is changed: settings are not saved and review sessions go to a temporary
folder. The sample study is written to the user's cache as on a normal first start.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator

import lesionviewer
from lesionviewer.paths import resources_dir

DEFAULT_TIMEOUT_S = 300.0
DEFAULT_SLICES = 3


class SelfTestFailure(Exception):
    """A check failed; the message says what is wrong in plain words."""


class Report:
    """Collects one line per check and prints it as it happens (a hung step is then visible)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.failures: list[str] = []
        self.warnings: list[str] = []
        self.step = "starting"

    def line(self, status: str, name: str, text: str) -> None:
        print(f"  {status:<5} {name:<10} {text}", file=self.stream, flush=True)

    def run(self, name: str, check: Callable[[], str]) -> bool:
        """Run ``check`` (returns the text of its line); a raised error becomes a FAIL line."""
        self.step = name
        started = time.perf_counter()
        try:
            text = check()
        except SelfTestFailure as failure:
            self.failures.append(f"{name}: {failure}")
            self.line("FAIL", name, str(failure))
            return False
        except Exception as error:  # noqa: BLE001 - any error is a failed check, reported plainly
            detail = traceback.format_exc(limit=3).strip().splitlines()[-1]
            self.failures.append(f"{name}: {type(error).__name__}: {error}")
            self.line("FAIL", name, f"unexpected {type(error).__name__}: {error} ({detail})")
            return False
        self.line("ok", name, f"{text} [{time.perf_counter() - started:.1f} s]")
        return True

    def warn(self, name: str, text: str) -> None:
        self.warnings.append(f"{name}: {text}")
        self.line("WARN", name, text)


# ---------------------------------------------------------------------------------------- checks
def lossless_jpeg(pixels, precision: int = 12) -> bytes:
    """A 2-D unsigned image as a lossless JPEG (process 14, first-order prediction), to test the decoder.

    pydicom has no encoder for this transfer syntax, yet it is the one most archives use for
    lossless CT; this small encoder (one Huffman table: the 17 difference categories, 5-bit codes)
    lets the self-test decode a real bitstream.
    """
    import numpy as np

    rows, cols = pixels.shape
    out = bytearray(b"\xff\xd8")  # SOI
    out += b"\xff\xc3" + (11).to_bytes(2, "big") + bytes([precision]) + rows.to_bytes(2, "big")
    out += cols.to_bytes(2, "big") + bytes([1, 1, 0x11, 0])  # SOF3: one component
    table = bytes([0x00]) + bytes([0, 0, 0, 0, 17] + [0] * 11) + bytes(range(17))
    out += b"\xff\xc4" + (2 + len(table)).to_bytes(2, "big") + table  # DHT
    out += b"\xff\xda" + (8).to_bytes(2, "big") + bytes([1, 1, 0x00, 1, 0, 0])  # SOS, predictor 1
    data = bytearray()
    acc = nbits = 0

    def put(value: int, length: int) -> None:
        nonlocal acc, nbits
        acc = (acc << length) | (value & ((1 << length) - 1))
        nbits += length
        while nbits >= 8:
            byte = (acc >> (nbits - 8)) & 0xFF
            data.append(byte)
            if byte == 0xFF:
                data.append(0)  # byte stuffing
            nbits -= 8
        acc &= (1 << nbits) - 1

    x = pixels.astype(np.int64)
    for r in range(rows):
        for c in range(cols):
            if r == 0 and c == 0:
                prediction = 1 << (precision - 1)
            elif c == 0:
                prediction = x[r - 1, c]  # first column: the sample above
            else:
                prediction = x[r, c - 1]  # elsewhere: the sample to the left
            diff = int(x[r, c] - prediction) % 65536
            diff = diff - 65536 if diff >= 32768 else diff
            category = abs(diff).bit_length()
            put(category, 5)
            if 0 < category < 16:
                put(diff if diff > 0 else diff - 1, category)
    if nbits:
        put((1 << (8 - nbits)) - 1, 8 - nbits)  # pad with one bits
    return bytes(out + data + b"\xff\xd9")  # EOI


def check_decoders() -> str:
    """The compressed transfer syntaxes real scanners and PACS send decode (plugins import, round trips exact)."""
    import numpy as np
    from pydicom import uid
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.pixels import get_decoder

    missing_modules = []
    for module in ("pylibjpeg", "libjpeg", "openjpeg", "rle", "jpeg_ls"):
        try:
            __import__(module)
        except ImportError as error:
            missing_modules.append(f"{module} ({error})")
    if missing_modules:
        raise SelfTestFailure("decoder modules missing: " + ", ".join(missing_modules))
    needed = {"JPEG Lossless": (uid.JPEGLosslessSV1, "pylibjpeg"), "JPEG-LS": (uid.JPEGLSLossless, "pyjpegls"),
              "JPEG 2000": (uid.JPEG2000Lossless, "pylibjpeg"), "RLE": (uid.RLELossless, "pylibjpeg")}
    for name, (syntax, plugin) in needed.items():
        plugins = get_decoder(syntax).available_plugins
        if plugin not in plugins:
            raise SelfTestFailure(f"no {plugin} decoder for {name} (available: {list(plugins) or 'none'})")
    # Each syntax is encoded (JPEG Lossless by our small encoder, the others by pydicom) and decoded back.
    from pydicom.encaps import encapsulate

    pixels = ((np.arange(48 * 40).reshape(48, 40) * 37) % 4096).astype(np.uint16)
    pixels[::7, ::5] = 4095 - pixels[::7, ::5]  # large jumps too
    for name, encoder in (("JPEG Lossless", None), ("JPEG-LS", "pyjpegls"), ("JPEG 2000", "pylibjpeg"), ("RLE", "pydicom")):
        syntax, decoder = needed[name]
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.Rows, ds.Columns = pixels.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        if encoder is None:
            ds.file_meta.TransferSyntaxUID = syntax
            ds.PixelData = encapsulate([lossless_jpeg(pixels)])
            ds["PixelData"].VR = "OB"
        else:
            ds.compress(syntax, pixels, encoding_plugin=encoder)
        decoded, _ = get_decoder(syntax).as_array(ds, decoding_plugin=decoder)
        if not np.array_equal(decoded, pixels):
            raise SelfTestFailure(f"{name} round trip through {decoder} changed the pixels")
    return "JPEG Lossless (pylibjpeg), JPEG-LS (pyjpegls), JPEG 2000 (pylibjpeg), RLE (pylibjpeg): images decode exactly"


def check_qt(app) -> str:
    """The platform plugins (off screen and X11) and the image formats the viewer uses are found."""
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtGui import QGuiApplication, QImage, QImageReader

    platforms: set[str] = set()
    for folder in QCoreApplication.libraryPaths():
        for plugin in (Path(folder) / "platforms").glob("*qoffscreen*"):
            platforms.add("offscreen")
        for plugin in (Path(folder) / "platforms").glob("*qxcb*"):
            platforms.add("xcb")
    wanted = {"offscreen"} | ({"xcb"} if sys.platform.startswith("linux") else set())
    if not wanted <= platforms:
        raise SelfTestFailure(f"Qt platform plugins missing: {sorted(wanted - platforms)} "
                              f"(searched {QCoreApplication.libraryPaths()})")
    formats = {bytes(f).decode() for f in QImageReader.supportedImageFormats()}
    if not {"png", "jpeg", "svg"} <= formats:
        raise SelfTestFailure(f"Qt image formats missing: {sorted({'png', 'jpeg', 'svg'} - formats)}")
    icon = resources_dir() / "icons" / "lesionviewer.svg"
    if QImage(str(icon)).isNull():
        raise SelfTestFailure(f"the application icon {icon} cannot be read")
    return (f"PySide6 {pyside_version}, platform {QGuiApplication.platformName()}; "
            f"platform plugins {', '.join(sorted(platforms))}; png, jpeg, svg readable")


def check_vtk() -> str:
    """The modules of the 3D view import (a bundler may miss vtk's compiled modules)."""
    import vtkmodules

    import lesionviewer_app.view3d  # noqa: F401 - imports every vtk module the 3D view uses

    return f"vtk {vtkmodules.__version__}: 3D view modules import"


def check_resources() -> str:
    """The bundled ``resources/`` folder: training configs and icons."""
    root = resources_dir()
    configs = sorted((root / "configs").glob("*.toml"))
    icons = sorted((root / "icons").glob("lesionviewer.*"))
    if not configs or len(icons) < 2:
        raise SelfTestFailure(f"{root} is incomplete ({len(configs)} configs, icons {[p.name for p in icons]})")
    return f"{root} ({len(configs)} configs, icons {', '.join(p.suffix[1:] for p in icons)})"


# ------------------------------------------------------------------------------------ the window
class _UnsavedSettings:
    """Factory of viewer settings that never write the user's settings file."""

    @staticmethod
    def make(device: str):
        from lesionviewer_app.settings import ViewerSettings

        class SelfTestSettings(ViewerSettings):
            def save(self) -> None:  # the self-test leaves the user's settings alone
                pass

        return SelfTestSettings(device=device, auto_detect=False, auto_risk=False)


@contextlib.contextmanager
def _dialogs_recorded(errors: list[str]) -> Iterator[None]:
    """Message boxes would wait for a click: record them instead (they all go through ``messages``)."""
    from lesionviewer_app import messages

    def show_error(parent, title, error) -> None:
        inner = getattr(error, "error", error)
        errors.append(f"{title}: {messages.describe_error(inner)}")

    saved = messages.show_error, messages.show_info, messages.ask_yes_no_cancel
    messages.show_error = show_error
    messages.show_info = lambda parent, title, text: None
    messages.ask_yes_no_cancel = lambda parent, title, text: "no"
    try:
        yield
    finally:
        messages.show_error, messages.show_info, messages.ask_yes_no_cancel = saved


def wait_until(app, condition: Callable[[], bool], timeout_s: float, what: str, errors: list[str]) -> None:
    """Let Qt work (background jobs report through the event loop) until ``condition`` or an error box."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if errors:
            raise SelfTestFailure(f"{what}: {errors[-1]}")
        if time.monotonic() > deadline:
            raise SelfTestFailure(f"{what}: not done within {timeout_s:.0f} s")
        app.processEvents()
        time.sleep(0.02)
    app.processEvents()


def random_demo_model(folder: Path) -> Path:
    """A model file with the demo's architecture and random weights (used when no demo weights are bundled)."""
    import torch

    from lesionviewer.detection.factory import build_detector
    from lesionviewer.detection.model_file import save_model

    torch.manual_seed(0)
    net = build_detector("mp3d_small", 5, width=16, fpn_channels=64, representation_size=256,
                         rpn_pre_nms_top_n_test=300, rpn_post_nms_top_n_test=300)
    path = folder / "self_test_random_mp3d_small.safetensors"
    save_model(path, net, {"name": "self-test-random-weights", "slice_interval_mm": 2.5,
                           "input_min_size": 224, "input_max_size": 512,
                           "description": "RANDOM weights, built by the self-test because no demo weights are "
                                          "bundled; it exercises the detection path, its findings mean nothing"})
    return path


def _volume_text(volume) -> str:
    dz, dy, _ = volume.spacing
    return f"{volume.num_slices} x {volume.shape[1]} x {volume.shape[2]} at {dy:.2f} mm pixels, {dz:g} mm slices"


def _largest_lesion(study: Path) -> dict | None:
    truth_path = study.parent / "ground_truth.json"
    if not truth_path.is_file():
        return None
    from lesionviewer.phantom import read_ground_truth

    lesions = read_ground_truth(truth_path)["lesions"]
    if not lesions:
        return None
    best = max(lesions, key=lambda les: max(s["long_mm"] for s in les["slices"]))
    key = next(s for s in best["slices"] if s["slice"] == best["key_slice"])
    return {"slice": best["key_slice"], "box": key["box"], "long_mm": max(s["long_mm"] for s in best["slices"])}


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def run_window_checks(app, report: Report, study: Path | None, model: Path | None, num_slices: int,
                      work: Path) -> None:
    """Open the study in the real window, detect on ``num_slices`` slices near the largest lesion, score the risk."""
    errors: list[str] = []
    with _dialogs_recorded(errors):
        _window_checks(app, report, study, model, num_slices, work, errors)


def _window_checks(app, report: Report, study: Path | None, model: Path | None, num_slices: int,
                   work: Path, errors: list[str]) -> None:
    from lesionviewer_app.main_window import MainWindow

    random_weights = False
    model_name = ""
    window_box: dict[str, Any] = {}

    def open_window() -> str:
        window = MainWindow(_UnsavedSettings.make(device="cpu"), review_folder=work / "reviews")
        window_box["window"] = window
        window.show()
        return f"main window up ({window.width()} x {window.height()})"

    if not report.run("window", open_window):
        return
    window = window_box["window"]
    sample_box: dict[str, Any] = {}

    def open_sample() -> str:
        nonlocal study
        started = time.perf_counter()
        if study is None:
            from lesionviewer.sample import sample_study_path

            study = sample_study_path()
        made = time.perf_counter() - started
        window.open_path(study)
        wait_until(app, lambda: window.state.volume is not None and window.bridge.session is not None,
                   120, f"opening {study}", errors)
        volume = window.state.volume
        sample_box["volume"] = volume
        return f"{study}: {_volume_text(volume)} (found or made in {made:.1f} s)"

    if not report.run("study", open_sample):
        window.close()
        return
    volume = sample_box["volume"]

    def choose_model() -> str:
        nonlocal model, random_weights, model_name
        from lesionviewer_app.detection_runner import default_model_path

        if model is None:
            model = default_model_path()
        if model is None:
            model = random_demo_model(work)
            random_weights = True
            report.warn("model", "no demo weights in resources/models: built mp3d_small with RANDOM weights; "
                                 "the detection path is tested, its findings mean nothing")
        if not window.use_model(str(model), show_card=False):
            raise SelfTestFailure(f"the viewer refused {model}: {errors[-1] if errors else 'no reason given'}")
        from lesionviewer.detection.model_file import read_card

        card = read_card(model)
        model_name = card.name
        return f"{model.name}: {card.name} ({card.architecture}, {card.num_slices} slices at {card.slice_interval_mm:g} mm)"

    if not report.run("model", choose_model):
        window.close()
        return

    def detect() -> str:
        lesion = _largest_lesion(study)
        centre = lesion["slice"] if lesion else volume.num_slices // 2
        first = min(max(centre - num_slices // 2, 0), max(volume.num_slices - num_slices, 0))
        chosen = list(range(first, min(first + num_slices, volume.num_slices)))
        window.state.set_cursor(centre, volume.shape[1] / 2, volume.shape[2] / 2)
        started = time.perf_counter()
        if not window.run_detection(chosen):
            raise SelfTestFailure("the viewer did not start detection")
        wait_until(app, lambda: not window.is_detecting, 600, "detection", errors)
        seconds = time.perf_counter() - started
        session = window.bridge.session
        done = sorted(session.processed_slices)
        if done != chosen:
            raise SelfTestFailure(f"detection processed slices {done}, expected {chosen}")
        if session.model_name != model_name:
            raise SelfTestFailure(f"the review records model {session.model_name!r}, expected {model_name!r}")
        findings = session.findings()
        text = (f"{len(chosen)} slices {chosen} on {window.detection_device} in {seconds:.1f} s "
                f"({seconds / len(chosen):.1f} s per slice, model load included): {len(findings)} findings")
        if lesion is not None and not random_weights:
            hits = [rf for rf in findings if rf.slice_index == lesion["slice"] and _overlaps(rf.finding.box_px, lesion["box"])]
            best = max((rf.score for rf in hits), default=None)
            text += (f"; largest lesion ({lesion['long_mm']:.0f} mm, slice {lesion['slice']}) "
                     + (f"found, score {best:.2f}" if best is not None else "not found"))
        return text

    report.run("detection", detect)

    def risk() -> str:
        if not window.risk_runner.has_model:
            return "no risk model in resources/models: skipped"
        started = time.perf_counter()
        if not window.run_risk():
            raise SelfTestFailure("the viewer did not start the risk model")
        wait_until(app, lambda: not window.is_computing_risk, 600, "risk", errors)
        panel = window.risk_panel
        if panel.state != "result":
            raise SelfTestFailure(f"no risk score: {panel.detail.text() or panel.headline.text()}")
        return (f"{panel.headline.text()} ({panel.model_label.text()}) in {time.perf_counter() - started:.1f} s, "
                "model load included")

    report.run("risk", risk)
    window.close()
    app.processEvents()


# ------------------------------------------------------------------------------------ the command
def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``--self-test``."""
    parser = argparse.ArgumentParser(prog="lesionviewer --self-test",
                                     description="Check that this LesionViewer installation works, without a user.")
    parser.add_argument("--study", type=Path, help="open this study instead of the sample study")
    parser.add_argument("--model", type=Path, help="use this model file instead of the bundled demo model")
    parser.add_argument("--slices", type=int, default=DEFAULT_SLICES, help=f"slices to detect on (default {DEFAULT_SLICES})")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help=f"give up (status 1) after this many seconds (default {DEFAULT_TIMEOUT_S:.0f})")
    return parser


def _start_watchdog(limit_s: float, report: Report) -> threading.Timer:
    def give_up() -> None:
        print(f"self-test FAILED: no result within {limit_s:g} s (stuck at: {report.step})", flush=True)
        os._exit(1)  # the GUI thread may be the one stuck: leave without waiting for it

    timer = threading.Timer(limit_s, give_up)
    timer.daemon = True
    timer.start()
    return timer


def run_self_test(argv: list[str] | None = None) -> int:
    """Run every check and print the report; 0 when all passed, 1 otherwise."""
    args = build_parser().parse_args(argv)
    report = Report()
    watchdog = _start_watchdog(args.timeout, report)
    started = time.perf_counter()
    try:
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        print(f"LesionViewer {lesionviewer.__version__} self-test"
              + (" (bundled)" if getattr(sys, "frozen", False) else ""), flush=True)
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "lesionviewer"])
        report.run("qt", lambda: check_qt(app))
        report.run("vtk", check_vtk)
        report.run("decoders", check_decoders)
        report.run("resources", check_resources)
        with tempfile.TemporaryDirectory(prefix="lesionviewer-self-test-") as work:
            run_window_checks(app, report, args.study, args.model, max(1, args.slices), Path(work))
    finally:
        watchdog.cancel()
    seconds = time.perf_counter() - started
    if report.failures:
        print(f"self-test FAILED in {seconds:.1f} s: " + "; ".join(report.failures), flush=True)
        return 1
    note = f" with {len(report.warnings)} warning(s)" if report.warnings else ""
    print(f"self-test passed{note} in {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_self_test())
