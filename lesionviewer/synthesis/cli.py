"""``lesionviewer-train synthesize``: real CT + synthetic lesions -> a DeepLesion-layout training folder.

Example:
    >>> parse_host_spec("path=/ct/abdomen,labels=/ct/organs.nii.gz,weight=3")
    {'path': '/ct/abdomen', 'labels': '/ct/organs.nii.gz', 'weight': 3.0, 'lidc': None, 'lesions': None, 'lesion_type': None, 'segment': None}
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


#: ``labels=estimate`` in a host spec: no label file; the liver is estimated from the image
#: (:mod:`lesionviewer.synthesis.liver_estimate`), so the host can take liver lesions.
ESTIMATE_LIVER = "estimate"


def default_host_spec(path: str | None, labels: str | None = None) -> dict[str, Any]:
    """A host spec with every option at its default: weight 1, no LIDC XML, no lesion mask.

    Example:
        >>> default_host_spec("/ct/a")["weight"], default_host_spec("/ct/a")["lesions"]
        (1.0, None)
    """
    return {"path": path, "labels": labels, "weight": 1.0, "lidc": None, "lesions": None, "lesion_type": None,
            "segment": None}


def parse_host_spec(text: str) -> dict:
    """``PATH`` or ``path=PATH[,labels=FILE][,weight=W][,lidc=XML][,lesions=MASK,lesion_type=T[,segment=N]]``
    as a dict.

    ``lesions`` is a mask of real lesions on the host (any non-zero voxel; each connected part one
    lesion; a NIfTI/NRRD file or a DICOM SEG), ``lesion_type`` their DeepLesion type (1 bone ... 8
    pelvis), which a mask needs; ``segment`` takes one segment of a SEG (default: all of them).
    ``labels=estimate`` (:data:`ESTIMATE_LIVER`) takes no file: the host's liver is estimated from its HU.

    Example:
        >>> parse_host_spec("/data/ct1")["weight"]
        1.0
        >>> parse_host_spec("path=/ct/chest,lesions=/ct/tumour.nrrd,lesion_type=5")["lesion_type"]
        5
        >>> parse_host_spec("path=/ct/chest,lesions=/ct/seg.dcm,lesion_type=5,segment=1")["segment"]
        1
        >>> parse_host_spec("path=/ct/chest,lesions=/ct/tumour.nrrd")
        Traceback (most recent call last):
        ...
        ValueError: --host 'path=/ct/chest,lesions=/ct/tumour.nrrd': lesions= needs lesion_type=1..8 (DeepLesion's types)
    """
    if "=" not in text:
        return default_host_spec(text)
    spec = default_host_spec(None)
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in spec:
            raise ValueError(f"--host {text!r}: expected PATH or path=PATH,labels=FILE,weight=W,lidc=XML,"
                             "lesions=MASK,lesion_type=T,segment=N")
        try:
            spec[key] = float(value) if key == "weight" else int(value) if key in ("lesion_type", "segment") else value
        except ValueError:
            raise ValueError(f"--host {text!r}: {key}={value!r} is not a number") from None
    if not spec["path"]:
        raise ValueError(f"--host {text!r}: no path= given")
    if not spec["weight"] > 0:
        raise ValueError(f"--host {text!r}: weight must be positive")
    if spec["lesions"] and not (spec["lesion_type"] is not None and 1 <= spec["lesion_type"] <= 8):
        raise ValueError(f"--host {text!r}: lesions= needs lesion_type=1..8 (DeepLesion's types)")
    if spec["segment"] is not None and not spec["lesions"]:
        raise ValueError(f"--host {text!r}: segment= chooses a segment of lesions=SEG.dcm and needs it")
    return spec


def add_synthesize_parser(sub) -> None:
    """Add the ``synthesize`` subcommand to ``lesionviewer-train``'s parser.

    Example:
        >>> import argparse
        >>> p = argparse.ArgumentParser(); s = p.add_subparsers(dest="command"); add_synthesize_parser(s)
        >>> p.parse_args(["synthesize", "--host", "ct", "--out", "o"]).samples
        1000
    """
    from lesionviewer.synthesis.tissue import MEDIASTINAL_FAT_SHARE
    from lesionviewer.synthesis.training_data import TYPE_MIXES

    p = sub.add_parser("synthesize", help="write training data: real CT volumes with synthetic lesions "
                                          "(DeepLesion layout), optionally merged with other sets")
    p.add_argument("--host", action="append", default=[], metavar="SPEC",
                   help="a real CT (DICOM folder, NIfTI...): PATH or path=PATH,labels=ORGAN_LABELS,weight=W,"
                        "lidc=LIDC_XML,lesions=REAL_LESION_MASK,lesion_type=1..8[,segment=N] (repeatable); labels=estimate "
                        "estimates the liver from the image where no label file exists")
    p.add_argument("--host-folder", action="append", default=[], type=Path, metavar="DIR",
                   help="every CT series below DIR is a host (DICOM series, NIfTI/NRRD files); a file X.nii.gz "
                        "takes X_labels.nii.gz beside it as its organ labels (repeatable)")
    p.add_argument("--out", type=Path, required=True, help="output folder (Images_png/ + DL_info.csv)")
    p.add_argument("--samples", type=int, default=1000, help="synthetic key slices to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--context-mm", type=float, default=6.0, help="neighbour slices kept on each side (mm)")
    p.add_argument("--val-fraction", type=float, default=0.08)
    p.add_argument("--first-patient", type=int, default=500000,
                   help="number of the first synthetic patient (separate runs to be merged need separate ranges)")
    p.add_argument("--type-mix", choices=TYPE_MIXES, default="slice",
                   help="slice: a key slice first, then types it can hold (the mix follows the hosts' anatomy); "
                        "deeplesion: the type first, from DeepLesion's mix of the types some host can hold")
    p.add_argument("--mediastinal-fat-share", type=float, default=MEDIASTINAL_FAT_SHARE, metavar="F",
                   help="least share of fat around a mediastinal lesion's centre (default %(default)s: lymph nodes "
                        "in the mediastinal fat; 0: anywhere in its fat and soft tissue, as data drawn before "
                        "session 18, e.g. the selection set of runs 34-37)")
    p.add_argument("--gas-pockets", type=int, default=0, metavar="N",
                   help="draw 0 to N gas pockets (bowel gas: unlabelled background, clear of every lesion) into each "
                        "sample whose key slice shows labelled stomach or bowel (hosts with organ labels); the "
                        "lesions drawn stay those of the same seed without them (default 0: none)")
    p.add_argument("--merge", action="append", default=[], type=Path, metavar="DIR",
                   help="also take another DeepLesion-layout set (e.g. phantoms) with its splits (repeatable)")
    p.add_argument("--merge-splits", type=parse_splits, default=None, metavar="LIST",
                   help="take only these splits of the --merge sets: train, val, test, comma-separated "
                        "(default: all)")


def parse_splits(text: str) -> list[int]:
    """``"val,test"`` -> ``[2, 3]`` (DeepLesion's ``Train_Val_Test`` numbers).

    Example:
        >>> parse_splits("val,test")
        [2, 3]
        >>> parse_splits("dev")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: 'dev': expected train, val or test, comma-separated
    """
    from lesionviewer.io.deeplesion_info import SPLITS

    numbers = {name: code for code, name in SPLITS.items()}
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names or any(name not in numbers for name in names):
        raise argparse.ArgumentTypeError(f"{text!r}: expected train, val or test, comma-separated")
    return sorted({numbers[name] for name in names})


def load_hosts(specs: list) -> list:
    """Load each ``--host`` spec (text or a parsed dict): the volume, organ labels resampled to it, real lesions
    (LIDC nodules, a lesion mask).

    Example:
        >>> load_hosts([])
        []
    """
    from lesionviewer.io import load_volume
    from lesionviewer.synthesis.real_lesions import lesions_from_mask_file
    from lesionviewer.synthesis.liver_estimate import estimated_liver_labels
    from lesionviewer.synthesis.tissue import labels_on_volume_grid
    from lesionviewer.synthesis.training_data import Host

    hosts = []
    for text in specs:
        spec = text if isinstance(text, dict) else parse_host_spec(text)
        volume = load_volume(spec["path"])
        labels: np.ndarray | None
        if spec["labels"] == ESTIMATE_LIVER:
            labels = estimated_liver_labels(volume)
        else:
            labels = labels_on_volume_grid(spec["labels"], volume) if spec["labels"] else None
        real = []
        if spec.get("lidc"):
            real += lidc_real_lesions(spec["lidc"], volume)
        if spec.get("lesions"):
            segment = spec.get("segment")
            real += lesions_from_mask_file(spec["lesions"], volume, int(spec["lesion_type"]),
                                           None if segment is None else [int(segment)])
        hosts.append(Host(Path(spec["path"]).name, volume, labels, spec["weight"], real))
    return hosts


LABELS_SUFFIX = "_labels"


def _strip_image_suffix(name: str) -> str:
    for suffix in (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def host_specs_in_folder(folder: str | Path) -> list[dict]:
    """One host spec per CT series below ``folder``; ``X_labels.<ext>`` beside an image ``X.<ext>`` is its labels.

    Label files themselves are not hosts; DICOM series of another modality than CT are skipped.

    Example:
        >>> import tempfile, pathlib, numpy as np, SimpleITK as sitk
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ("a.nii.gz", "a_labels.nii.gz", "b.nii.gz"):
        ...     sitk.WriteImage(sitk.GetImageFromArray(np.zeros((2, 4, 4), np.int16)), str(d / name))
        >>> [(pathlib.Path(s["path"]).name, s["labels"] and pathlib.Path(s["labels"]).name)
        ...  for s in host_specs_in_folder(d)]
        [('a.nii.gz', 'a_labels.nii.gz'), ('b.nii.gz', None)]
    """
    from lesionviewer.io import find_series

    specs = []
    for info in find_series(folder):
        if info.format == "dicom":
            if info.modality and info.modality.upper() != "CT":
                continue
            folder_path = info.folder or str(Path(info.files[0]).parent)
            specs.append(default_host_spec(folder_path))
            continue
        path = Path(info.files[0])
        stem = _strip_image_suffix(path.name)
        if stem.endswith(LABELS_SUFFIX):
            continue
        labels = next((p for p in path.parent.iterdir()
                       if p != path and _strip_image_suffix(p.name) == stem + LABELS_SUFFIX), None)
        specs.append(default_host_spec(str(path), str(labels) if labels else None))
    return sorted(specs, key=lambda spec: spec["path"])


def lidc_real_lesions(xml_path: str | Path, volume, padding_px: float | None = None) -> list:
    """LIDC nodules marked by >= 2 readers and >= 3 mm as :class:`~lesionviewer.synthesis.real_lesions.RealLesion`
    (type 5, lung): the readers' mean box on every slice they outline, padded as DeepLesion's (``padding_px``,
    default ``DEEPLESION_BOX_PADDING_PX``) and clipped to the image.

    Example:
        >>> import numpy as np, pathlib, tempfile
        >>> from lesionviewer.io import Volume
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.xml"
        >>> _ = p.write_text("<LidcReadMessage><readingSession></readingSession></LidcReadMessage>")
        >>> lidc_real_lesions(p, Volume(np.zeros((2, 8, 8), np.int16), (1, 1, 1)))
        []
    """
    from lesionviewer.evaluation.lidc_lesions import lidc_lesions, select_lesions, volume_sop_uids
    from lesionviewer.evaluation.real_ct import padded_box
    from lesionviewer.io.lidc_xml import read_lidc_xml
    from lesionviewer.synthesis.insert import DEEPLESION_BOX_PADDING_PX
    from lesionviewer.synthesis.real_lesions import RealLesion

    padding_px = DEEPLESION_BOX_PADDING_PX if padding_px is None else padding_px
    lesions = select_lesions(lidc_lesions(read_lidc_xml(xml_path), volume, sop_uids=volume_sop_uids(volume)))
    height, width = volume.hu.shape[1:]
    return [RealLesion(5, lesion.key_slice_index,
                       {s.slice_index: padded_box(s.box_px, padding_px, width, height) for s in lesion.slices})
            for lesion in lesions]


def run_synthesize(args) -> int:
    """Carry out ``lesionviewer-train synthesize``; returns the exit code.

    Example:
        >>> import argparse, contextlib, io
        >>> args = argparse.Namespace(samples=-1, host=[], host_folder=[])
        >>> with contextlib.redirect_stderr(io.StringIO()) as err:
        ...     code = run_synthesize(args)
        >>> code, err.getvalue().strip()
        (2, 'lesionviewer-train synthesize: --samples must be >= 0')
    """
    from lesionviewer.synthesis.tissue import MEDIASTINAL_FAT_SHARE
    from lesionviewer.synthesis.training_data import write_synthetic_training_data

    if args.samples < 0:
        print("lesionviewer-train synthesize: --samples must be >= 0", file=sys.stderr)
        return 2
    fat_share = getattr(args, "mediastinal_fat_share", MEDIASTINAL_FAT_SHARE)
    if not 0.0 <= fat_share <= 1.0:
        print("lesionviewer-train synthesize: --mediastinal-fat-share must be between 0 and 1", file=sys.stderr)
        return 2
    gas_pockets = getattr(args, "gas_pockets", 0)
    if gas_pockets < 0:
        print("lesionviewer-train synthesize: --gas-pockets must be >= 0", file=sys.stderr)
        return 2
    specs = list(args.host)
    for folder in getattr(args, "host_folder", []):
        specs.extend(host_specs_in_folder(folder))
    hosts = load_hosts(specs)

    def progress(done, total):
        if done % 50 == 0 or done == total:
            print(f"  {done}/{total} samples", file=sys.stderr, flush=True)

    summary = write_synthetic_training_data(hosts, args.out, args.samples, seed=args.seed,
                                            context_mm=args.context_mm, val_fraction=args.val_fraction,
                                            merge=args.merge, progress=progress, first_patient=args.first_patient,
                                            type_mix=getattr(args, "type_mix", "slice"),
                                            merge_splits=getattr(args, "merge_splits", None),
                                            mediastinal_fat_share=fat_share, gas_pockets=gas_pockets)
    summary["hosts"] = [h.name for h in hosts]
    print(json.dumps(summary, indent=2))
    return 0
