"""The inference engine: run a detector file over a CT volume and return findings in pixels and mm.

The engine applies exactly the preprocessing its model card describes (context stack at the card's
slice interval, from the volume's real slice positions; HU clip and scaling to 0..255), then lets
the network's own transform normalise, resize and pad, and maps the boxes back to the volume's pixel
grid with that transform's ``postprocess``.

Speed: the volume goes to the device once (int16) and every network input is made there in batches
(:mod:`lesionviewer.detection.device_input`). Window mode runs the 3D trunk on each slice's own
context stack; volume mode (:mod:`lesionviewer.detection.volume_mode`) runs it once per chunk of the
z-resampled series and gives each slice its window of the shared features (``mode``; measured in
docs/benchmarks.md). On the CPU the trunk runs flat (:mod:`lesionviewer.detection.flat_trunk`: 2D
convolutions in channels-last memory, the same numbers in window mode; in volume mode each layer is
computed only over the lattice points later layers need); ``amp`` then runs it in bf16. The backbone
runs under autocast where ``amp`` is on (by default on CUDA, except for the small model, which gains no
speed from it there: bf16 where supported, else fp16) with channels-last weights. The RPN and box heads
stay in float32 so box coordinates keep sub-pixel precision (bf16 would round a 512-pixel coordinate to 2-4 pixels).

Cancelling returns the findings of the slices finished so far (no exception): the caller asked for
the stop, so a partial list is the expected answer, and the GUI keeps what it has already drawn.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> from lesionviewer.io import Volume
    >>> from lesionviewer.detection.factory import build_detector
    >>> from lesionviewer.detection.model_file import save_model
    >>> net = build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "demo.safetensors"
    >>> _ = save_model(path, net, {"name": "demo", "slice_interval_mm": 2.5, "input_min_size": 64})
    >>> detector = Detector.from_file(path, device="cpu")
    >>> volume = Volume(np.full((4, 64, 64), -1000, np.int16), spacing=(2.5, 0.7, 0.7))
    >>> findings = detector.detect(volume, slices=[2, 1])
    >>> all(f.model_name == "demo" and f.slice_index in (1, 2) for f in findings)
    True
"""
from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

import numpy as np
import torch
from torchvision.models.detection.image_list import ImageList

from lesionviewer.detection.cpu_features import native_bf16
from lesionviewer.detection.device import describe_device, pick_device
from lesionviewer.detection.device_input import DeviceVolume, network_slices
from lesionviewer.detection.finding import Finding
from lesionviewer.detection.flat_trunk import FlatTrunk, flat_trunk_problem, flat_windows_to_2d
from lesionviewer.detection.flip_fusion import fuse_with_mirror
from lesionviewer.detection.model_card import ModelCard
from lesionviewer.detection.model_file import ModelFileError, apply_card_to_transform, load_model, read_card
from lesionviewer.detection.networks.backbone import ContextBackboneWithFPN
from lesionviewer.detection.slice_findings import (  # noqa: F401 - SCORE_FLOOR re-exported
    SCORE_FLOOR,
    Cancel,
    is_cancelled,
    report_batch,
    slice_findings,
)
from lesionviewer.detection.volume_mode import shared_trunk, volume_mode_problem, windows_to_2d, z_halo
from lesionviewer.detection.weights_check import NonFiniteWeightsError, check_finite_weights
from lesionviewer.imaging.context import context_sample_points
from lesionviewer.imaging.context_grid import context_grids
from lesionviewer.imaging.windowing import clip_and_scale_mp3d

#: Slices per forward pass when the caller does not say: GPUs gain from large batches, a CPU does
#: not, and a small batch keeps cancel and progress responsive.
DEFAULT_BATCH_SIZE = {"cuda": 8, "mps": 4, "cpu": 1}

#: Volume mode: output lattice points per trunk chunk (each chunk adds a halo on both sides), by
#: device. A chunk's stage-1 features take about 256 channels x (H/4) x (W/4) x 4 bytes per lattice
#: point for MP3D-63 (17 MB at 512 px), so the CPU's chunks stay smaller.
DEFAULT_VOLUME_CHUNK = {"cuda": 64, "mps": 32, "cpu": 32}

#: ``mode``: "window" runs the trunk on each slice's own context stack; "volume" shares it over
#: chunks of the z-resampled series (:mod:`lesionviewer.detection.volume_mode`); "auto" takes
#: :data:`AUTO_MODE` (volume mode only where the network allows it), or what the environment
#: variable ``LESIONVIEWER_DETECT_MODE`` says ("window" or "volume"), so that any tool built on the
#: engine can be run in either mode without a new option.
MODES = ("auto", "window", "volume")
MODE_VARIABLE = "LESIONVIEWER_DETECT_MODE"

#: What ``mode="auto"`` runs where the network allows volume mode; decided by the sensitivity and
#: speed measured in docs/benchmarks.md.
AUTO_MODE = "window"

#: Devices on which ``flat=None`` runs the trunk as channels-last 2D convolutions
#: (:mod:`lesionviewer.detection.flat_trunk`), measured faster there (docs/benchmarks.md).
FLAT_BY_DEFAULT = {"cpu": True}

#: Whether ``amp=None`` means bf16 autocast of the backbone on a CPU with native bf16 (see
#: :func:`~lesionviewer.detection.cpu_features.native_bf16`); decided by measurement, docs/benchmarks.md.
CPU_BF16_BY_DEFAULT = False

#: Architectures whose backbone ``amp=None`` leaves in float32 on CUDA, where autocast is otherwise the
#: default: measured no faster there in bf16 (docs/benchmarks.md, H200 2026-12-04: the small model 1.02x
#: in window mode and 0.91x in volume mode, against MP3D-63's 1.54x), while bf16 moved the shipped
#: file's findings on the DeepLesion key slices by one lesion at 1, 4 and 16 FPs per image.
CUDA_FP32_ARCHITECTURES = frozenset({"mp3d_small"})



class Detector:
    """A detector network with its model card, on a device, ready to find lesions in volumes.

    ``amp`` (autocast of the backbone; default :func:`default_amp`) and ``channels_last`` default to
    on for CUDA and off elsewhere. ``batch_size`` defaults to :data:`DEFAULT_BATCH_SIZE` for the device. ``flat``
    (default: :data:`FLAT_BY_DEFAULT`) runs the 3D trunk as 2D convolutions in channels-last memory
    (same numbers in window mode; in volume mode each layer only where its outputs are needed),
    with the FPN and RPN head in channels-last too. ``proposals`` caps the RPN's proposals per
    image at test time (None: the model's own setting). ``flip`` (default: the card's
    ``test_time_flip``) runs every slice a second time mirrored left-right and keeps the fusion of the
    two passes (:func:`~lesionviewer.detection.flip_fusion.fuse_two_passes`): twice the work.

    Example:
        >>> from lesionviewer.detection.factory import build_detector
        >>> net = build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32)
        >>> d = Detector(net, {"name": "n", "architecture": "mp3d_small", "num_slices": 3,
        ...                    "slice_interval_mm": 2.5}, device="cpu")
        >>> d.model_name, d.batch_size, d.device.type
        ('n', 1, 'cpu')
    """

    def __init__(
        self,
        model: torch.nn.Module,
        card: ModelCard | dict[str, Any],
        device: str | torch.device = "cpu",
        *,
        batch_size: int | None = None,
        amp: bool | None = None,
        channels_last: bool | None = None,
        score_floor: float = SCORE_FLOOR,
        mode: str = "auto",
        volume_chunk: int | None = None,
        volume_halo: int | None = None,
        flat: bool | None = None,
        proposals: int | None = None,
        flip: bool | None = None,
    ) -> None:
        if mode == "auto" and os.environ.get(MODE_VARIABLE):
            mode = os.environ[MODE_VARIABLE].strip().lower()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.card = card if isinstance(card, ModelCard) else ModelCard(**card)
        self.device = pick_device(device)
        on_cuda = self.device.type == "cuda"
        if amp is None:
            amp = default_amp(self.device.type, self.card.architecture)
        self.amp = bool(amp)
        self.amp_dtype = _amp_dtype(self.device)
        self.batch_size = int(batch_size or DEFAULT_BATCH_SIZE.get(self.device.type, 1))
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self.score_floor = float(score_floor)
        apply_card_to_transform(model, self.card)
        # A torchvision FasterRCNN reached part by part (backbone.body/to_2d/fpn, rpn, roi_heads, transform);
        # nn.Module's __getattr__ would type every part ``Tensor | Module``, so the handle is Any.
        self.model: Any = cast(Any, model.to(self.device).eval())
        if on_cuda if channels_last is None else channels_last:
            to_channels_last(self.model)
        problem = volume_mode_problem(self.model)
        if mode == "volume" and problem is not None:
            raise ValueError(f"volume mode cannot run this model: {problem}")
        #: "window" or "volume": what :meth:`detect` does (``mode="auto"`` resolved)
        if mode == "auto":
            mode = AUTO_MODE
        self.mode = "volume" if mode == "volume" and problem is None else "window"
        self.volume_chunk = int(volume_chunk or DEFAULT_VOLUME_CHUNK.get(self.device.type, 32))
        self.volume_halo = (z_halo(self.model.backbone.body) if volume_halo is None and problem is None
                            else int(volume_halo or 0))
        if self.volume_chunk < 1 or self.volume_halo < 0:
            raise ValueError("volume_chunk must be at least 1 and volume_halo at least 0")
        self._trunk: torch.nn.Module | None = None
        backbone: Any = getattr(self.model, "backbone", None)
        flat_possible = (isinstance(backbone, ContextBackboneWithFPN)
                         and flat_trunk_problem(backbone.body) is None)
        #: whether the trunk runs as channels-last 2D convolutions (``flat``)
        self.flat = bool(flat_possible and (FLAT_BY_DEFAULT.get(self.device.type, False) if flat is None else flat))
        self._flat_trunks: dict[tuple, FlatTrunk] = {}
        if self.flat:
            to_channels_last(backbone.fpn)
            to_channels_last(self.model.rpn.head)
        #: whether each slice is also read mirrored left-right and the two passes fused
        #: (:mod:`~lesionviewer.detection.flip_fusion`); default: the card's ``test_time_flip``
        self.flip = bool(self.card.test_time_flip if flip is None else flip)
        if proposals is not None:
            if int(proposals) < 1:
                raise ValueError(f"proposals must be at least 1, not {proposals}")
            self.model.rpn._post_nms_top_n["testing"] = int(proposals)

    @classmethod
    def from_file(cls, path: str | os.PathLike, device: str | torch.device = "auto", **options: Any) -> Any:
        """Load a model file (see :func:`~lesionviewer.detection.model_file.load_model`) onto ``device``.

        ``device="auto"`` takes CUDA, else Apple MPS, else the CPU. Raises ``ModelFileError`` for a
        bad file (weights holding NaN or infinity included) and ``DeviceUnavailableError`` for an
        explicitly requested GPU that is not there. A file holding an ensemble
        (:mod:`~lesionviewer.detection.ensemble_file`) gives an
        :class:`~lesionviewer.detection.ensemble.EnsembleDetector` of two Detectors built with the
        same ``options``; it detects like a Detector.

        Example:
            >>> Detector.from_file("no/such/model.safetensors")  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            lesionviewer.detection.model_file.ModelFileError: no/such/model.safetensors: no such file
        """
        card = read_card(path)
        if card.ensemble_members:
            from lesionviewer.detection.ensemble import EnsembleDetector
            from lesionviewer.detection.ensemble_file import load_ensemble

            members = load_ensemble(path, device="cpu")
            for model, _ in members:
                _check_finite(path, model)
            chosen = pick_device(device)
            return EnsembleDetector([cls(model, member_card, device=chosen, **options) for model, member_card in members],
                                    score_floor=options.get("score_floor", SCORE_FLOOR), card=card)
        model, card = load_model(path, device="cpu")
        _check_finite(path, model)
        return cls(model, card, device=pick_device(device), **options)

    @property
    def model_name(self) -> str:
        """The card's model name (what each Finding records).

        Example:
            >>> from types import SimpleNamespace
            >>> Detector.model_name.fget(SimpleNamespace(card=SimpleNamespace(name="x")))
            'x'
        """
        return self.card.name

    @property
    def device_description(self) -> str:
        """One sentence for the status bar: what the detector runs on.

        Example:
            >>> from types import SimpleNamespace
            >>> Detector.device_description.fget(SimpleNamespace(device=torch.device("cpu")))[:9]
            'Processor'
        """
        return describe_device(self.device)

    def detect(
        self,
        volume,
        slices: Iterable[int] | None = None,
        progress: Callable[[int, int], Any] | None = None,
        cancel: Cancel = None,
        batch_size: int | None = None,
        on_findings: Callable[[int, list[Finding]], Any] | None = None,
        prepared: DeviceVolume | None = None,
    ) -> list[Finding]:
        """Find lesions on the slices of ``volume`` (a :class:`~lesionviewer.io.Volume`).

        ``slices`` is the order in which to visit slice indices (the GUI passes the slice on screen
        first, then outward); ``None`` means every slice, top to bottom. A repeated index is visited
        once. After each batch, ``progress(done, total)`` is called (counting slices) and
        ``on_findings(slice_index, findings)`` once per slice of the batch, in visiting order, with
        that slice's findings (possibly none). In volume mode a batch belongs to a chunk of the
        series: chunks are taken in the order of their first slice in ``slices``, and their slices
        in visiting order, so the first slice asked for is always reported first. ``cancel`` (a callable returning True, or a
        ``threading.Event``) is checked before each batch; once set, the call returns the findings
        of the slices finished so far. ``prepared`` is ``volume``'s :meth:`prepare` (made once by a
        caller that calls ``detect`` on one volume many times, as an ensemble does block by block); one
        on another device is not used.

        Returns every finding scoring at least ``score_floor``, ordered by slice index, then by
        descending score.

        Example:
            >>> from lesionviewer.detection.factory import build_detector
            >>> import numpy as np
            >>> from lesionviewer.io import Volume
            >>> net = build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32)
            >>> d = Detector(net, {"name": "n", "architecture": "mp3d_small", "num_slices": 3,
            ...                    "slice_interval_mm": 5.0, "input_min_size": 64}, device="cpu")
            >>> seen = []
            >>> _ = d.detect(Volume(np.zeros((3, 32, 32), np.int16), (1.0, 1.0, 1.0)), slices=[2, 0],
            ...              progress=lambda done, total: seen.append((done, total)))
            >>> seen
            [(1, 2), (2, 2)]
        """
        order = _visiting_order(slices, volume.num_slices)
        size = int(batch_size or self.batch_size)
        if size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        card = self.card
        if not order:
            return []
        positions = slice_positions_of(volume)
        with torch.inference_mode():
            source = prepared if prepared is not None and prepared.device == self.device else self.prepare(volume)
            make = self._volume_batches if self.mode == "volume" else self._window_batches
            batches = make(source, positions, order, size)
            # the mirrored pass visits the same slices in the same batches, so the two line up
            mirrored = make(source.mirror(), positions, order, size) if self.flip else None
            found: list[Finding] = []
            done = 0
            while True:
                if is_cancelled(cancel):
                    break
                try:
                    batch, outputs = next(batches)
                except StopIteration:
                    break
                if mirrored is not None:
                    outputs = self._fused(outputs, next(mirrored)[1], int(source.hu.shape[-1]))
                per_slice = [(index, slice_findings(volume, index, output, self.score_floor, card.name))
                             for index, output in zip(batch, outputs)]
                done = report_batch(found, per_slice, done, len(order), progress, on_findings)
        found.sort(key=lambda f: (f.slice_index, -f.score))
        return found

    def prepare(self, volume) -> DeviceVolume:
        """``volume``'s voxels on this detector's device (int16), for :meth:`detect`'s ``prepared``.

        Example:
            >>> import numpy as np
            >>> from lesionviewer.io import Volume
            >>> from lesionviewer.detection.factory import build_detector
            >>> net = build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32)
            >>> d = Detector(net, {"name": "n", "architecture": "mp3d_small", "num_slices": 3,
            ...                    "slice_interval_mm": 5.0, "input_min_size": 64}, device="cpu")
            >>> d.prepare(Volume(np.zeros((3, 32, 32), np.int16), (1.0, 1.0, 1.0))).hu.shape
            torch.Size([3, 32, 32])
        """
        return DeviceVolume(volume.hu, self.device)

    def _window_batches(self, source: DeviceVolume, positions, order: list[int], size: int):
        """Window mode: each batch of centres gets its own context stacks, made on the device."""
        card = self.card
        num_source = source.num_slices
        original = tuple(int(v) for v in source.hu.shape[-2:])
        for start in range(0, len(order), size):
            batch = order[start:start + size]
            points = [context_sample_points(positions, num_source, c, card.num_slices, card.slice_interval_mm)
                      for c in batch]
            lower, upper, weight = (np.concatenate(parts) for parts in zip(*points))
            slices, image_size = network_slices(source.blend(lower, upper, weight), self.model.transform, card.hu_clip)
            images = slices.reshape((len(batch), card.num_slices) + tuple(slices.shape[-2:]))
            if self.flat:
                stages = self._flat_trunk(window=None, valid=False)(images[..., None])
                starts = [(b, 0) for b in range(len(batch))]
                features = self._flat_fpn(stages, starts, card.num_slices)
            else:
                with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp):
                    features = self.model.backbone(images)
            yield batch, self._heads(features, images.shape, image_size, original)

    def _volume_batches(self, source: DeviceVolume, positions, order: list[int], size: int):
        """Volume mode: the trunk runs once per chunk of the context grid; the heads per batch of centres."""
        card = self.card
        depth = card.num_slices
        below, above = depth // 2, depth - 1 - depth // 2
        halo, outputs_per_chunk = self.volume_halo, self.volume_chunk
        original = tuple(int(v) for v in source.hu.shape[-2:])
        backbone = self.model.backbone
        # the flat trunk crops each layer to where it is needed when the halo covers its reach;
        # a shorter halo (a test's choice) zero-pads the chunk's ends as the 3D form does
        flat = self._flat_trunk(window=depth, valid=halo >= z_halo(backbone.body)) if self.flat else None
        grids = context_grids(positions, source.num_slices, order, card.slice_interval_mm)
        chunks: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for number, grid in enumerate(grids):
            for centre, k in zip(grid.centres.tolist(), grid.centre_index.tolist()):
                chunks.setdefault((number, k // outputs_per_chunk), []).append((centre, k))
        rank = {c: i for i, c in enumerate(order)}
        for (number, block), members in sorted(chunks.items(), key=lambda kv: min(rank[c] for c, _ in kv[1])):
            members.sort(key=lambda m: rank[m[0]])
            # the chunk's outputs and their halo, but no further than the halo beyond the series'
            # first and last slices of this lattice (a short series needs no full-length chunk)
            first = max(block * outputs_per_chunk, 0) - below - halo
            last = min((block + 1) * outputs_per_chunk - 1, grids[number].last_index) + above + halo
            slices, image_size = network_slices(source.blend(*grids[number].sample_points(range(first, last + 1))),
                                                self.model.transform, card.hu_clip)
            if flat is not None:
                stages = flat(slices[None, :, :, :, None])
                for start in range(0, len(members), size):
                    part = members[start:start + size]
                    features = self._flat_fpn(stages, [(0, k - below - first) for _, k in part], depth)
                    shape = (len(part), depth) + tuple(slices.shape[-2:])
                    yield [c for c, _ in part], self._heads(features, shape, image_size, original)
                continue
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp):
                stages = self._shared_trunk()(slices[None, None])
                for start in range(0, len(members), size):
                    part = members[start:start + size]
                    # only the windows this batch needs: those starting from its lowest to its highest row
                    starts = [k - first - below for _, k in part]
                    low, high = min(starts), max(starts)
                    rows = torch.as_tensor([r - low for r in starts], device=slices.device)
                    maps = OrderedDict(
                        (str(i), windows_to_2d(convert, stage[:, :, low:high + depth], depth)
                         .index_select(0, rows).contiguous())
                        for i, (convert, stage) in enumerate(zip(backbone.to_2d, stages)))
                    features = backbone.fpn(maps)
                    shape = (len(part), depth) + tuple(slices.shape[-2:])
                    with torch.autocast(self.device.type, enabled=False):
                        outputs = self._heads(features, shape, image_size, original)
                    yield [c for c, _ in part], outputs

    def _heads(self, features, images_shape, image_size: tuple[int, ...], original: tuple[int, ...]):
        """RPN, box head and ``postprocess`` in float32 for a batch of images of one size."""
        model = self.model
        features = OrderedDict((name, f.float()) for name, f in features.items())
        count = int(images_shape[0])
        # the RPN's anchors read only the padded shape, device and dtype of the image tensor
        tensors = features["0"].new_empty((1, 1, 1, 1)).expand(count, 1, *images_shape[-2:])
        batch = ImageList(tensors, [image_size] * count)
        proposals, _ = model.rpn(batch, features)
        detections, _ = model.roi_heads(features, proposals, batch.image_sizes)
        detections = model.transform.postprocess(detections, batch.image_sizes, [original] * count)
        return [{k: v.detach().float().cpu() if v.is_floating_point() else v.cpu() for k, v in d.items()}
                for d in detections]

    def _fused(self, outputs: list[dict], mirrored: list[dict], width: int) -> list[dict]:
        """Each image's detections fused with those of its mirror image (boxes mapped back first)."""
        return fuse_with_mirror(outputs, mirrored, width, getattr(self.model, "roi_heads", None))

    def _flat_trunk(self, window: int | None, valid: bool) -> FlatTrunk:
        dtype = self.amp_dtype if self.amp else torch.float32
        key = (window, valid, dtype)
        if key not in self._flat_trunks:
            self._flat_trunks[key] = FlatTrunk(self.model.backbone.body, window, valid, dtype)
        return self._flat_trunks[key]

    def _flat_fpn(self, stages, starts, depth: int) -> "OrderedDict[str, torch.Tensor]":
        """FPN maps of the windows ``starts`` ((stack, first position in the run's input)) of flat stage outputs."""
        backbone = self.model.backbone
        maps = OrderedDict(
            (str(i), flat_windows_to_2d(convert, stage, [(b, p - lost) for b, p in starts], depth))
            for i, (convert, (stage, lost)) in enumerate(zip(backbone.to_2d, stages)))
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp):
            return backbone.fpn(maps)

    def _shared_trunk(self) -> torch.nn.Module:
        if self._trunk is None:
            self._trunk = shared_trunk(self.model.backbone.body, self.card.num_slices)
        return self._trunk

    def predict_stacks(self, stacks_hu: np.ndarray | torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """Raw network output for a batch of ``(B, num_slices, H, W)`` context stacks in HU.

        Returns torchvision's per-image dicts (``boxes`` x1, y1, x2, y2 in the stacks' pixel grid,
        ``scores``, ``labels``) as float32 CPU tensors, unfiltered.

        Example:
            >>> from lesionviewer.detection.factory import build_detector
            >>> net = build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32)
            >>> d = Detector(net, {"name": "n", "architecture": "mp3d_small", "num_slices": 3,
            ...                    "slice_interval_mm": 2.5, "input_min_size": 64}, device="cpu")
            >>> out = d.predict_stacks(np.zeros((2, 3, 40, 50), np.float32))
            >>> len(out), out[0]["boxes"].dtype
            (2, torch.float32)
        """
        low, high = self.card.hu_clip
        stacks = torch.as_tensor(stacks_hu)
        if stacks.dim() != 4 or stacks.shape[1] != self.card.num_slices:
            raise ValueError(
                f"expected stacks of shape (B, {self.card.num_slices}, H, W), got {tuple(stacks.shape)}"
            )
        with torch.inference_mode():
            stacks = stacks.to(self.device, non_blocking=True)
            found = self._predict_scaled(list(clip_and_scale_mp3d(stacks, low, high)))
            if self.flip:
                mirrored = self._predict_scaled(list(clip_and_scale_mp3d(stacks.flip(-1), low, high)))
                found = self._fused(found, mirrored, int(stacks.shape[-1]))
        return found

    def _predict_scaled(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        """GeneralizedRCNN's eval forward for images already scaled to 0..255, as float32 CPU dicts."""
        model = self.model
        original_sizes = [tuple(image.shape[-2:]) for image in images]
        # GeneralizedRCNN.forward in eval mode, unrolled so that only the backbone runs under
        # autocast and the heads decode boxes in float32.
        batch, _ = model.transform(images)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp):
            features = model.backbone(batch.tensors)
        features = {name: f.float() for name, f in features.items()}
        proposals, _ = model.rpn(batch, features)
        detections, _ = model.roi_heads(features, proposals, batch.image_sizes)
        detections = model.transform.postprocess(detections, batch.image_sizes, original_sizes)
        return [{k: v.detach().float().cpu() if v.is_floating_point() else v.cpu() for k, v in d.items()}
                for d in detections]


def _check_finite(path: str | os.PathLike, model: torch.nn.Module) -> None:
    try:
        check_finite_weights(model.state_dict(), os.fspath(path))
    except NonFiniteWeightsError as err:
        raise ModelFileError(path, err.reason) from None


def slice_positions_of(volume) -> Sequence[float] | float:
    """The slice positions (mm) the context stack uses: the loader's per-slice positions when it
    recorded usable ones (``meta["slice_positions_mm"]``, uneven gaps kept), else the slice spacing.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> v = Volume(np.zeros((3, 2, 2), np.int16), (2.5, 1, 1), meta={"slice_positions_mm": [0, 2.5, 7.5]})
        >>> slice_positions_of(v)
        [0.0, 2.5, 7.5]
        >>> slice_positions_of(Volume(np.zeros((3, 2, 2), np.int16), (2.5, 1, 1)))
        2.5
    """
    positions = volume.meta.get("slice_positions_mm") if isinstance(volume.meta, dict) else None
    if positions is not None:
        try:
            values = np.asarray(positions, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            values = None
        if values is not None and values.size == volume.num_slices and np.all(np.isfinite(values)):
            steps = np.diff(values)
            if values.size == 1 or np.all(steps > 0) or np.all(steps < 0):
                return values.tolist()
    return float(volume.spacing[0])


def to_channels_last(model: torch.nn.Module) -> torch.nn.Module:
    """Put every 4-D weight in channels-last and every 5-D weight in channels-last-3d layout, in place.

    cuDNN's fastest convolution kernels (tensor cores under AMP) want these layouts; the numbers
    computed do not change.

    Example:
        >>> conv = torch.nn.Conv3d(1, 2, 3)
        >>> to_channels_last(conv).weight.is_contiguous(memory_format=torch.channels_last_3d)
        True
    """
    formats = {4: torch.channels_last, 5: torch.channels_last_3d}
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() in formats:
                param.data = param.data.contiguous(memory_format=formats[param.dim()])
    return model


def default_amp(device_type: str, architecture: str) -> bool:
    """Whether a Detector given ``amp=None`` runs its backbone under autocast on this device type.

    On CUDA yes, except for :data:`CUDA_FP32_ARCHITECTURES`; on a CPU only where
    :data:`CPU_BF16_BY_DEFAULT` is set and the CPU has native bf16; elsewhere no.

    Example:
        >>> default_amp("cuda", "mp3d63"), default_amp("cuda", "mp3d_small"), default_amp("mps", "mp3d63")
        (True, False, False)
    """
    if device_type == "cuda":
        return architecture not in CUDA_FP32_ARCHITECTURES
    return device_type == "cpu" and CPU_BF16_BY_DEFAULT and native_bf16()


def _amp_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.bfloat16  # CPU autocast supports bf16 only


def _visiting_order(slices: Iterable[int] | None, num_slices: int) -> list[int]:
    if slices is None:
        return list(range(num_slices))
    order: list[int] = []
    seen: set[int] = set()
    for value in slices:
        index = int(value)
        if not 0 <= index < num_slices:
            raise IndexError(f"slice index {index} is outside this volume's 0..{num_slices - 1}")
        if index not in seen:
            seen.add(index)
            order.append(index)
    return order
