"""The shipped demo detector: it reproduces the sensitivity its card records, and finds the sample's lesions.

The held-out phantoms are rebuilt from the generator (the test patients of the demo dataset only,
byte-identical to the ones the model was scored on), so nothing but the weights is shipped.
"""
from __future__ import annotations

import json

import pytest
import torch
from torchvision.ops import box_iou

from lesionviewer.detection.model_file import load_model
from lesionviewer.paths import resources_dir
from lesionviewer.phantom.config import PhantomConfig
from lesionviewer.phantom.dataset import generate_dataset

DEMO_MODEL = resources_dir() / "models" / "demo_mp3d_small.safetensors"
DEMO_CONFIG = resources_dir() / "configs" / "demo_small_phantom.toml"
# lesionviewer-phantom data/phantoms_demo -n 400 --size small --seed 0 --annotate-all --box-padding 2 --lesion-contrast 8
DEMO_DATA = PhantomConfig.preset("small").with_(annotate_all_visible=True, box_padding_px=2.0, lesion_contrast=8.0)


@pytest.fixture(scope="module")
def demo():
    torch.set_num_threads(2)
    return load_model(DEMO_MODEL)


def test_card_says_what_the_weights_are(demo):
    _, card = demo
    text = (card.description + json.dumps(card.training_data)).lower()
    assert "synthetic" in text and "not for clinical use" in text
    assert "lesionviewer-phantom" in card.training_data["generator"]
    assert card.training_data["train_key_slices"] > 500
    assert card.metrics["test"]["sensitivity"]["4"] >= 0.9


def test_weights_reproduce_the_recorded_held_out_sensitivity(demo, tmp_path):
    from lesionviewer.training.config import load_config
    from lesionviewer.training.evaluate import evaluate_split
    from lesionviewer.training.splits import build_split_datasets

    model, card = demo
    root = tmp_path / "phantoms_demo"
    generate_dataset(root, 400, seed=0, config=DEMO_DATA, workers=2, only_splits=(3,))
    cfg = load_config(DEMO_CONFIG, overrides=[f'data.root="{root.as_posix()}"'])
    test_set = build_split_datasets(cfg, splits=("test",))["test"]
    recorded = card.metrics["test"]
    assert len(test_set) == recorded["num_images"]
    metrics, _, _ = evaluate_split(model, test_set, cfg, "cpu")
    assert metrics["num_lesions"] == recorded["num_lesions"]
    for fp in ("1", "2", "4"):
        assert metrics["sensitivity"][fp] == pytest.approx(recorded["sensitivity"][fp], abs=0.02), fp
    assert metrics["mean_sensitivity"] == pytest.approx(recorded["mean_sensitivity"], abs=0.02)


def test_finds_the_sample_studys_lesions(demo):
    from lesionviewer.detection import Detector
    from lesionviewer.io import load_volume
    from lesionviewer.phantom import read_ground_truth
    from lesionviewer.sample import GROUND_TRUTH_NAME, sample_study_path

    folder = sample_study_path()
    volume = load_volume(folder)
    truth = read_ground_truth(folder.parent / GROUND_TRUTH_NAME)
    detector = Detector.from_file(DEMO_MODEL, device="cpu")
    lesions = truth["lesions"]
    keys = sorted({lesion["key_slice"] for lesion in lesions})
    findings = detector.detect(volume, slices=keys)
    found = 0
    for lesion in lesions:
        key = lesion["key_slice"]
        box = next(s["recist_box"] for s in lesion["slices"] if s["slice"] == key)
        boxes = [f.box_px for f in findings if f.slice_index == key and f.score >= 0.5]
        if boxes:
            found += bool(box_iou(torch.tensor(boxes), torch.tensor([box])).max() >= 0.3)
    assert found >= 0.75 * len(lesions), f"{found} of {len(lesions)} sample lesions found at score >= 0.5"
