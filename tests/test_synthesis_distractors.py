"""Gas pockets as unlabelled background: where they go, what they never touch, and that the labels stay the same."""
from __future__ import annotations

import argparse

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from lesionviewer.io import Volume
from lesionviewer.synthesis import TissueMaps, insert_lesions
from lesionviewer.synthesis.cli import add_synthesize_parser, run_synthesize
from lesionviewer.synthesis.distractors import BOWEL_LABELS, insert_gas_pockets, pocket_room
from lesionviewer.synthesis.training_data import Host, write_synthetic_training_data


def abdomen(seed: int = 0) -> tuple[Volume, np.ndarray]:
    """A noisy abdomen (40 HU) with a 'liver' (label 5, 100 HU), a 'colon' (label 20, 30 HU) and a 'vertebra' (600 HU)."""
    rng = np.random.default_rng(seed)
    hu = np.full((9, 160, 160), -1000.0)
    yy, xx = np.mgrid[:160, :160]
    body = (yy - 80) ** 2 / 70 ** 2 + (xx - 80) ** 2 / 75 ** 2 <= 1
    liver = (yy - 75) ** 2 / 30 ** 2 + (xx - 45) ** 2 / 25 ** 2 <= 1
    colon = (yy - 60) ** 2 / 14 ** 2 + (xx - 110) ** 2 / 14 ** 2 <= 1
    bone = (yy - 125) ** 2 + (xx - 80) ** 2 <= 12 ** 2
    hu[:, body] = 40
    hu[:, liver] = 100
    hu[:, colon] = 30
    hu[:, bone] = 600
    hu += rng.normal(0, 10, hu.shape) * (hu > -500)
    labels = np.zeros(hu.shape, np.int32)
    labels[:, liver] = 5
    labels[:, colon] = 20
    return Volume(np.rint(hu).astype(np.int16), (2.5, 0.8, 0.8)), labels


def test_pockets_are_gas_inside_the_abdomen_and_never_cover_an_organ_bone_or_a_lesion():
    host, labels = abdomen()
    maps = TissueMaps(host, labels)
    drawn = 0
    for seed in range(4):
        lesions = insert_lesions(host, maps, np.random.default_rng(seed), count=1, types=[7], key_slice=4)
        lesion_mask = lesions.mask() > 0
        slab = lesions.hu.copy()
        pockets = insert_gas_pockets(slab, (0, 9), maps, np.random.default_rng(100 + seed), 4, 3,
                                     lesion_mask=lesion_mask)
        drawn += len(pockets)
        changed = slab != lesions.hu
        assert changed.any() == bool(pockets)
        # gas where a pocket is: every pocket's centre reads as gas on the key slice
        for p in pockets:
            assert slab[4, p.row, p.column] < -500  # partial volume of a thin pocket in a 2.5 mm slice lifts it
        # never on the liver, the bone or within 5 mm of the lesion (2 slices of 2.5 mm, 7 px of 0.8 mm)
        assert not (changed & (labels == 5)).any()
        assert not (changed & (host.hu > 180)).any()
        near = ndimage.binary_dilation(lesion_mask, structure=np.ones((5, 15, 15), bool))
        assert not (changed & near).any()
    assert drawn >= 4  # there is room for pockets on this abdomen: most draws place some


def test_pockets_go_only_into_labelled_bowel_and_nowhere_on_a_host_without_labels():
    host, labels = abdomen()
    room = pocket_room(TissueMaps(host, labels), 4)
    colon = np.isin(labels[4], BOWEL_LABELS)
    assert room[colon].mean() > 0.5  # the colon's inside (its edge eroded) is room
    assert not room[~colon].any()  # the liver, the fat, the bone are not
    unlabelled = TissueMaps(host)
    assert insert_gas_pockets(host.hu.copy(), (0, 9), unlabelled, np.random.default_rng(0), 4, 3) == []


def test_same_seed_same_pockets_and_a_slab_of_the_wrong_length_is_refused():
    host, labels = abdomen(1)
    maps = TissueMaps(host, labels)
    a, b = host.hu.copy(), host.hu.copy()
    pa = insert_gas_pockets(a, (0, 9), maps, np.random.default_rng(5), 4, 2)
    pb = insert_gas_pockets(b, (0, 9), maps, np.random.default_rng(5), 4, 2)
    assert pa == pb and pa and np.array_equal(a, b)
    with pytest.raises(ValueError, match="spans 9"):
        insert_gas_pockets(host.hu[:3].copy(), (0, 9), maps, np.random.default_rng(5), 4, 2)


def test_training_data_with_pockets_keeps_every_row_and_every_lesion_pixel(tmp_path):
    host, labels = abdomen(2)
    hosts = [Host("abdomen", host, labels)]
    plain = write_synthetic_training_data(hosts, tmp_path / "plain", samples=6, seed=4)
    gassy = write_synthetic_training_data(hosts, tmp_path / "gassy", samples=6, seed=4, gas_pockets=3)
    assert (tmp_path / "plain" / "DL_info.csv").read_text() == (tmp_path / "gassy" / "DL_info.csv").read_text()
    assert plain["rows"] == gassy["rows"] and gassy["gas_pockets"] > 0 and "gas_pockets" not in plain
    differ = 0
    for png in sorted((tmp_path / "plain" / "Images_png").rglob("*.png")):
        before = np.asarray(Image.open(png)).astype(np.int32) - 32768
        after = np.asarray(Image.open(tmp_path / "gassy" / png.relative_to(tmp_path / "plain"))).astype(np.int32) - 32768
        changed = after != before
        differ += int(changed.any())
        assert not changed.any() or after[changed].max() < 100  # only gas and a soft-tissue wall come in
    assert differ > 0


def test_synthesize_command_passes_gas_pockets_through_and_refuses_a_negative_count(monkeypatch, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_synthesize_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["synthesize", "--out", str(tmp_path / "o"), "--samples", "0", "--gas-pockets", "-1"])
    assert run_synthesize(args) == 2
    assert "--gas-pockets must be >= 0" in capsys.readouterr().err
    seen = {}
    monkeypatch.setattr("lesionviewer.synthesis.training_data.write_synthetic_training_data",
                        lambda *a, **k: seen.update(k) or {"rows": 0})
    args = parser.parse_args(["synthesize", "--out", str(tmp_path / "o"), "--samples", "0", "--gas-pockets", "2"])
    assert run_synthesize(args) == 0
    assert seen["gas_pockets"] == 2
