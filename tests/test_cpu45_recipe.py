"""tools/train_cpu45.sh, the 45-minute CPU recipe (docs/training.md, Run 64): its two phases chain and fit the budget.

Nothing is trained here: the script's commands are read and the configs it names are loaded with the trainer's loader.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

from lesionviewer.training.config import load_config

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tools" / "train_cpu45.sh"
#: Seconds one step of the recipe took on the project's 2-core CPU (60 steps of real_small_cpu45.toml, session 31).
SECONDS_PER_STEP = 0.59
#: Data/real_mix5 from nothing (Run 28's timing of tools/rebuild_real_ct_data.sh's training part), in seconds.
DATA_SECONDS = 9 * 60 + 42


def script_commands() -> list[list[str]]:
    """The lesionviewer-train and tools/ commands of the script, split as the shell splits them."""
    lines = [line.strip() for line in SCRIPT.read_text(encoding="utf-8").splitlines()]
    return [shlex.split(line) for line in lines if re.match(r"(lesionviewer-train|tools/)", line)]


def trainings() -> list[tuple[str, str]]:
    """(config path, run folder) of every train command, in order."""
    out = []
    for cmd in script_commands():
        if cmd[:2] == ["lesionviewer-train", "train"]:
            out.append((cmd[cmd.index("--config") + 1], cmd[cmd.index("--run-dir") + 1]))
    return out


def test_the_recipe_draws_only_the_training_set_then_trains_two_phases_and_exports_the_second():
    cmds = script_commands()
    assert cmds[0][:2] == ["tools/rebuild_real_ct_data.sh", "--training-only"]
    assert [cfg for cfg, _ in trainings()] == ["resources/configs/real_small_cpu45.toml",
                                               "resources/configs/real_small_cpu45_tail.toml"]
    export = [cmd for cmd in cmds if cmd[:2] == ["lesionviewer-train", "export"]]
    assert len(export) == 1 and export[0][export[0].index("--run-dir") + 1] == trainings()[1][1]
    assert "--test-time-flip" in export[0]


def test_the_first_phase_starts_from_random_weights_and_the_second_from_the_first():
    (first_cfg, first_dir), (tail_cfg, _) = trainings()
    first, tail = load_config(ROOT / first_cfg), load_config(ROOT / tail_cfg)
    assert first.model.init_from == ""
    assert Path(tail.model.init_from) == Path(first_dir)
    assert tail.model.init_parts == "detector"
    assert first.data.root == tail.data.root == "data/real_mix5"  # the set --training-only draws


def test_the_second_phase_is_the_low_rate_phase_with_crops_anywhere_and_key_slices_alone():
    (first_cfg, _), (tail_cfg, _) = trainings()
    first, tail = load_config(ROOT / first_cfg), load_config(ROOT / tail_cfg)
    assert tail.optim.lr == first.optim.lr / 10
    assert (first.data.crop_on_lesion, tail.data.crop_on_lesion) == (0.7, 0.3)
    assert (first.data.repeat_key_slice, tail.data.repeat_key_slice) == (0.4, 0.8)
    assert first.model.hard_negative_fraction == tail.model.hard_negative_fraction == 1.0


def test_the_planned_steps_fit_45_minutes_with_the_data():
    steps = sum(cfg.optim.epochs * cfg.train.steps_per_epoch
                for cfg in (load_config(ROOT / path) for path, _ in trainings()))
    assert steps == 3200
    assert DATA_SECONDS + steps * SECONDS_PER_STEP < 45 * 60 - 120  # two minutes left for start-ups and export
