"""Training data: DeepLesion key slices and context stacks, augmentation, fractions, sampler, resize."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from lesionviewer.imaging.windowing import clip_and_scale_mp3d
from lesionviewer.training.augmentation import StackAugmentation, flip_stack
from lesionviewer.training.config import TrainingConfig
from lesionviewer.training.dataset import LesionDataset
from lesionviewer.training.fractions import sample_patients, select_fraction
from lesionviewer.training.key_slices import KeySlice, group_key_slices, read_key_slices
from lesionviewer.training.model_setup import build_model, eval_input_size
from lesionviewer.training.sampler import ResumableSampler
from lesionviewer.training.splits import build_split_datasets
from lesionviewer.training.toy_data import write_toy_deeplesion
from test_training_run import TINY_MODEL


def test_real_deeplesion_tables_and_key_slices(shared_data):
    folder = shared_data / "deeplesion"
    val = read_key_slices(folder / "DL_info_val.csv")
    test_all = read_key_slices(folder / "DL_info_test.csv")
    test_clean = read_key_slices(folder / "DL_info_test.csv", drop_noisy=True)
    # SOURCE.md: 4,889 val lesions on 4,793 images; 4,927 test lesions on 4,831 images, 15 noisy.
    assert sum(k.num_lesions for k in val) == 4889 and len(val) == 4793
    assert sum(k.num_lesions for k in test_all) == 4927 and len(test_all) == 4831
    assert sum(k.num_lesions for k in test_clean) == 4927 - 15
    assert {k.split for k in val} == {"val"} and {k.split for k in test_all} == {"test"}
    assert {k.slice_interval_mm for k in val} <= {0.625, 0.8, 1.0, 1.25, 2.0, 2.5, 3.0, 5.0, 7.5} | {
        k.slice_interval_mm for k in val}
    first = val[0]
    assert first.series == "000002_01_01" and first.key_slice == 162 and first.slice_interval_mm == 5.0
    assert first.pixel_spacing_mm == (0.859375, 0.859375)


def test_real_deeplesion_pngs_make_context_stacks(shared_data):
    folder = shared_data / "deeplesion"
    key_slices = read_key_slices(folder / "DL_info_val.csv") + read_key_slices(folder / "DL_info_test.csv")
    present = [k for k in key_slices if (folder / "Images_png" / k.series / f"{k.key_slice:03d}.png").is_file()]
    assert len(present) >= 10
    ds = LesionDataset(folder, present, num_slices=3, slice_interval_mm=2.5)
    stack, target = ds[0]
    ks = present[0]
    hu = np.asarray(Image.open(folder / "Images_png" / ks.series / f"{ks.key_slice:03d}.png"), np.int32) - 32768
    assert stack.shape == (3, 512, 512) and stack.dtype == torch.float32
    # Only the key slice exists here: the neighbours repeat it (edge rule), clipped and scaled to 0..255.
    expected = torch.from_numpy(clip_and_scale_mp3d(hu))
    for d in range(3):
        assert torch.equal(stack[d], expected)
    assert torch.equal(target["boxes"], torch.from_numpy(ks.boxes))
    x1, y1, x2, y2 = (int(round(v)) for v in ks.boxes[0])
    lesion = hu[y1:y2, x1:x2]
    assert -200 < np.median(lesion) < 400, "the box should sit on soft tissue (a liver lesion)"


def write_ramp_series(root, numbers, values_hu, size=8):
    series = root / "Images_png" / "000001_01_01"
    series.mkdir(parents=True)
    for n, v in zip(numbers, values_hu):
        Image.fromarray(np.full((size, size), 32768 + v, np.uint16)).save(series / f"{n:03d}.png")


def test_context_stack_interpolates_at_the_interval_and_repeats_edges(tmp_path):
    # Slices 1..5 at 2 mm, slice 4 missing (a 4 mm gap); HU = 100 x position in mm.
    numbers = [1, 2, 3, 5]
    write_ramp_series(tmp_path, numbers, [100 * 2 * n for n in numbers])
    ks = KeySlice("000001_01_01", 3, np.zeros((0, 4), np.float32), "train", 1, 2.0, (1.0, 1.0))
    ds = LesionDataset(tmp_path, [ks], num_slices=5, slice_interval_mm=1.5)
    stack, _ = ds[0]
    # Positions 3, 4.5, 6, 7.5, 9 mm around slice 3 (6 mm); 2 mm = first slice (edge repeat below 2 mm).
    expected_hu = np.array([300, 450, 600, 750, 900], np.float32)
    assert stack[:, 0, 0].tolist() == pytest.approx(clip_and_scale_mp3d(expected_hu).tolist(), abs=1e-3)
    ds.key_slices = [KeySlice("000001_01_01", 1, ks.boxes, "train", 1, 2.0, (1.0, 1.0))]
    first, _ = ds[0]
    assert first[:, 0, 0].tolist()[:3] == [first[2, 0, 0].item()] * 3  # below the series: edge repeated


def test_missing_slice_file_names_the_file(tmp_path):
    write_ramp_series(tmp_path, [1, 2], [0, 0])
    ks = KeySlice("000001_01_01", 7, np.zeros((0, 4), np.float32), "train", 1, 2.0, (1.0, 1.0))
    with pytest.raises(FileNotFoundError, match="007.png is missing"):
        LesionDataset(tmp_path, [ks], 3, 2.0)[0]
    with pytest.raises(FileNotFoundError, match="Images_png"):
        LesionDataset(tmp_path / "nowhere", [ks], 3, 2.0)


def test_flips_move_boxes_with_the_pixels():
    stack = np.zeros((3, 20, 30), np.float32)
    stack[:, 2:6, 4:10] = 1.0  # rows 2..5, columns 4..9 -> box (4, 2, 10, 6)
    stack[0] += 5.0  # mark slice 0
    box = np.array([[4, 2, 10, 6]], np.float32)
    for h in (False, True):
        for v in (False, True):
            out, b = flip_stack(stack, box, horizontal=h, vertical=v, reverse=True)
            x1, y1, x2, y2 = b[0].astype(int)
            assert out[1, y1:y2, x1:x2].min() == 1.0 and out[1].sum() == 24.0
            assert out[2].mean() > 5.0 > out[0].mean()  # slice order reversed


def test_augmentation_is_seeded_per_sample(tmp_path):
    root = write_toy_deeplesion(tmp_path, patients=4, size=32, slices=4)
    cfg = TrainingConfig.from_dict({"data": {"root": str(root), "num_slices": 3}})
    train = build_split_datasets(cfg, ("train",))["train"]
    assert isinstance(train.augment, StackAugmentation)
    a, b = train[(3, 1)], train[(3, 1)]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1]["boxes"], b[1]["boxes"])
    flips = {tuple(train[(e, 0)][1]["boxes"][0].tolist()) for e in range(12)}
    assert len(flips) == 4  # h and v flips both happen over epochs


def test_noisy_lesions_can_be_dropped():
    rows = [dict(series="a", key_slice=1, box=(0, 0, 4, 4), split="train", patient=1, slice_interval_mm=1,
                 pixel_spacing_mm=(1, 1), noisy=True),
            dict(series="b", key_slice=1, box=(0, 0, 4, 4), split="train", patient=2, slice_interval_mm=1,
                 pixel_spacing_mm=(1, 1), noisy=False),
            dict(series="b", key_slice=1, box=(5, 5, 9, 9), split="train", patient=2, slice_interval_mm=1,
                 pixel_spacing_mm=(1, 1), noisy=True)]
    kept = group_key_slices(rows, drop_noisy=True)
    assert [(k.series, k.num_lesions) for k in kept] == [("b", 1)]
    assert [k.num_lesions for k in group_key_slices(rows)] == [1, 2]


def test_fraction_draws_whole_patients_seeded_and_nested():
    from types import SimpleNamespace

    items = [SimpleNamespace(patient=p) for p in range(50) for _ in range(3)]
    subsets = {f: select_fraction(items, f, seed=4) for f in (0.2, 0.4, 0.6, 0.8, 1.0)}
    patients = {f: {k.patient for k in s} for f, s in subsets.items()}
    assert [len(patients[f]) for f in (0.2, 0.4, 0.6, 0.8, 1.0)] == [10, 20, 30, 40, 50]
    assert all(len(subsets[f]) == 3 * len(patients[f]) for f in subsets)  # whole patients only
    assert patients[0.2] <= patients[0.4] <= patients[0.6] <= patients[0.8]
    assert patients[0.2] == {k.patient for k in select_fraction(items, 0.2, seed=4)}
    assert patients[0.2] != sample_patients(range(50), 0.2, seed=5)


def test_sampler_shards_and_resumes():
    ranks = [ResumableSampler(10, seed=3, rank=r, world_size=2) for r in (0, 1)]
    for s in ranks:
        s.set_epoch(2)
    shards = [[i for _, i in s] for s in ranks]
    assert sorted(shards[0] + shards[1]) == list(range(10))
    ranks[0].set_epoch(2, start=3)
    assert [i for _, i in ranks[0]] == shards[0][3:]
    longer = ResumableSampler(4, samples_per_epoch=10, seed=0)
    order = [i for _, i in longer]
    assert len(order) == 10 and sorted(order[:4]) == [0, 1, 2, 3]


def test_model_transform_is_the_single_resize_rule():
    cfg = TrainingConfig.from_dict({"model": TINY_MODEL, "data": {"num_slices": 3}})
    model = build_model(cfg)
    image = torch.rand(3, 380, 500) * 255
    model.train()
    torch.manual_seed(0)
    sizes = {tuple(model.transform([image])[0].image_sizes[0]) for _ in range(30)}
    shorter = sorted({min(s) for s in sizes})  # torchvision floors the scaled size: 380 * 448/380 -> 447
    assert len(shorter) == 3 and all(abs(a - b) <= 1 for a, b in zip(shorter, (448, 512, 576)))
    model.eval()
    with eval_input_size(model, cfg):
        batch, _ = model.transform([image])
    assert batch.image_sizes[0] == (512, 673) and tuple(batch.tensors.shape[-2:]) == (512, 704)
    assert model.transform.min_size == (448, 512, 576)  # restored after the block


def test_hu_clip_is_configurable(tmp_path):
    write_ramp_series(tmp_path, [1, 2, 3], [-1000, 50, 1000])
    ks = KeySlice("000001_01_01", 2, np.zeros((0, 4), np.float32), "train", 1, 2.0, (1.0, 1.0))
    narrow = LesionDataset(tmp_path, [ks], num_slices=3, slice_interval_mm=2.0, hu_clip=(-250, 350))
    stack, _ = narrow[0]
    assert stack[:, 0, 0].tolist() == pytest.approx([0.0, 255 * 300 / 600, 255.0])
