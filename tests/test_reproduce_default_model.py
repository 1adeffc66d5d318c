"""tools/reproduce_default_model.sh: the plan its --dry-run prints rebuilds the shipped detector's lineage in order.

Nothing is trained or drawn here. The script is copied into a scratch root (its own tools/, resources/ linked to the
repository's), so the runs/ and data/ of this checkout cannot change what it prints; every printed command is then
walked in order, keeping track of what each one writes, and every config it names is loaded with the trainer's own
loader. A few seconds in all.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from lesionviewer.training.config import load_config

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tools" / "reproduce_default_model.sh"
SHIPPED = "resources/models/ct_mp3d_small.safetensors"
DEFAULT_OUT = "runs/reproduced/ct_mp3d_small.safetensors"

#: The lineage docs/training.md records for the shipped file, in training order: (config, run folder).
LINEAGE = [
    ("demo_small_phantom", "runs/demo_small_phantom"),           # the demo model on phantoms
    ("real_small_mixed", "runs/real_small_mixed"),               # run 1
    ("real_small_jitter", "runs/real_small_jitter"),             # run 2
    ("real_small_visible", "runs/real_small_visible"),           # run 3
    ("real_small_coarse", "runs/real_small_coarse"),             # run 4
    ("real_small_hardneg", "runs/real_small_hardneg"),           # run 5
    ("real_small_ohem", "runs/real_small_ohem"),                 # run 6
    ("real_small_hosts", "runs/real_small_hosts"),               # run 8
    ("real_small_phantoms", "runs/real_small_phantoms"),         # run 11
    ("real_small_phantoms_long", "runs/real_small_phantoms_long"),              # run 46
    ("real_small_phantoms_long_seed8", "runs/real_small_phantoms_long_seed8"),  # run 50
    ("real_small_continue", "runs/real_small_continue_11"),      # run 58a
    ("real_small_continue_46", "runs/real_small_continue_46"),   # run 58b
    ("real_small_continue_50", "runs/real_small_continue_50"),   # run 58c
    ("real_small_key", "runs/real_small_key_11"),                # run 63a
    ("real_small_key_46", "runs/real_small_key_46"),             # run 63b
    ("real_small_key_50", "runs/real_small_key_50"),             # run 63c
]

#: (output folder, seed, first patient) of the synthetic-lesion sets of runs 1-6, as docs/training.md records them.
SYNTHETIC_SETS = {"data/synth_a": ("1", "500000"), "data/synth_b": ("2", "600000"), "data/synth_c": ("3", "700000"),
                  "data/synth_d": ("4", "800000")}
#: What ``tools/rebuild_real_ct_data.sh --training-only`` writes (it checks the seeds' result itself: 4,272 rows).
REBUILD = "tools/rebuild_real_ct_data.sh"
REBUILT = ["data/phantoms_demo", "data/phantoms_b", "data/synth_e", "data/synth_f", "data/real_mix5"]


def scratch_root(folder: Path) -> Path:
    """A root holding only the script and a link to resources/: no runs/, data/ or hosts/ yet."""
    (folder / "tools").mkdir(parents=True)
    (folder / "tools" / SCRIPT.name).write_text(SCRIPT.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "resources").symlink_to(ROOT / "resources", target_is_directory=True)
    return folder


def run_script(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(root / "tools" / SCRIPT.name), *args], cwd=root, capture_output=True,
                          text=True, timeout=60)


def commands(stdout: str) -> list[list[str]]:
    """The printed commands (comment lines left out), each split as the shell would."""
    return [shlex.split(line) for line in stdout.splitlines() if line.strip() and not line.startswith("#")]


def option(cmd: list[str], name: str) -> str:
    assert name in cmd, f"{name} missing from {shlex.join(cmd)}"
    return cmd[cmd.index(name) + 1]


def options(cmd: list[str], name: str) -> list[str]:
    return [cmd[i + 1] for i, word in enumerate(cmd[:-1]) if word == name]


def norm(path: str) -> str:
    return os.path.normpath(path)


def is_train(cmd: list[str]) -> bool:
    return cmd[:2] == ["lesionviewer-train", "train"]


def effective_config(cmd: list[str]):
    """The config a train command trains with: its file, then its --set overrides in order."""
    return load_config(ROOT / option(cmd, "--config"), options(cmd, "--set"))


class Walk:
    """The commands in order, with what each writes: data sets, run folders, model files."""

    def __init__(self, cmds: list[list[str]]):
        self.data: list[str] = []
        self.runs: list[str] = []
        self.files: list[str] = []
        self.problems: list[str] = []
        self.trained: dict[str, list[str]] = {}  # run folder -> its train command
        self.exported: dict[str, str] = {}  # model file -> run folder
        for cmd in cmds:
            self.step(cmd)

    def made(self, path: str) -> bool:
        path = norm(path)
        return path in self.data or path in self.runs or path in self.files

    def step(self, cmd: list[str]) -> None:
        line = shlex.join(cmd)
        if cmd[0] == REBUILD:
            self.data.extend(REBUILT)
        elif cmd[0] == "lesionviewer-phantom":
            self.data.append(norm(cmd[1]))
        elif cmd[:2] == ["lesionviewer-train", "synthesize"]:
            for merged in options(cmd, "--merge"):
                if not self.made(merged):
                    self.problems.append(f"{line}: merges {merged} before any command built it")
            self.data.append(norm(option(cmd, "--out")))
        elif is_train(cmd):
            run_dir = norm(option(cmd, "--run-dir"))
            cfg = effective_config(cmd)
            if not self.made(cfg.data.root):
                self.problems.append(f"{line}: data.root {cfg.data.root} is not built before it")
            start = cfg.model.init_from
            shipped_start = norm(start).startswith("resources/models/") and norm(start) != SHIPPED
            if start and not (self.made(start) or (shipped_start and (ROOT / start).is_file())):
                self.problems.append(f"{line}: model.init_from {start} is made by no earlier command")
            self.runs.append(run_dir)
            self.trained[run_dir] = cmd
        elif cmd[:2] == ["lesionviewer-train", "export"]:
            run_dir, out = norm(option(cmd, "--run-dir")), norm(option(cmd, "--out"))
            if run_dir not in self.trained:
                self.problems.append(f"{line}: exports {run_dir} before it is trained")
            self.files.append(out)
            self.exported[out] = run_dir
        elif cmd[0] in ("cp", "mv"):
            src, dst = cmd[-2], cmd[-1]
            if not self.made(src):
                self.problems.append(f"{line}: {src} is made by no earlier command")
            self.files.append(norm(dst))
            if norm(src) in self.exported:
                self.exported[norm(dst)] = self.exported[norm(src)]
        elif cmd[:2] == ["lesionviewer-train", "ensemble"]:
            for member in options(cmd, "--model"):
                if not self.made(member):
                    self.problems.append(f"{line}: member {member} is made by no earlier command")
            self.files.append(norm(option(cmd, "--out")))


def written_paths(cmd: list[str]) -> list[str]:
    """Every path a command of the plan writes."""
    if cmd[0] == REBUILD:
        return REBUILT
    if cmd[0] == "lesionviewer-phantom":
        return [cmd[1]]
    if cmd[0] in ("cp", "mv"):
        return [cmd[-1]]
    if cmd[0] in ("mkdir", "rm"):
        return [word for word in cmd[1:] if not word.startswith("-")]
    if cmd[0] == "tar":
        return [option(cmd, "-C")]
    return options(cmd, "--out") + options(cmd, "--run-dir") + options(cmd, "--resume") + options(cmd, "-d")


@pytest.fixture(scope="module")
def plan(tmp_path_factory) -> list[list[str]]:
    done = run_script(scratch_root(tmp_path_factory.mktemp("fresh")), "--dry-run")
    assert done.returncode == 0, done.stderr
    return commands(done.stdout)


def test_every_config_named_exists_and_loads_with_its_overrides(plan):
    trains = [cmd for cmd in plan if is_train(cmd)]
    assert trains, "the plan trains nothing"
    for cmd in trains:
        config = option(cmd, "--config")
        assert (ROOT / config).is_file(), config
        cfg = effective_config(cmd)  # raises on a missing file, a bad extends chain or an unknown --set key
        assert cfg.name, config


def test_the_training_order_is_the_recorded_lineage(plan):
    trained = [(Path(option(cmd, "--config")).stem, norm(option(cmd, "--run-dir"))) for cmd in plan if is_train(cmd)]
    assert trained == LINEAGE
    assert len({run for _, run in trained}) == len(trained), "a run folder is trained twice"


def test_each_run_starts_from_a_model_an_earlier_command_made_and_reads_data_built_before_it(plan):
    walk = Walk(plan)
    assert walk.problems == []


def test_the_chain_never_starts_from_the_shipped_files(plan):
    for cmd in plan:
        assert not any(norm(word).startswith("resources/models") for word in cmd), shlex.join(cmd)
    first_real = next(cmd for cmd in plan if is_train(cmd) and "real_small_mixed" in option(cmd, "--config"))
    start = effective_config(first_real).model.init_from
    assert Walk(plan).exported.get(norm(start)) == "runs/demo_small_phantom", start
    fourth = next(cmd for cmd in plan if is_train(cmd) and "real_small_coarse" in option(cmd, "--config"))
    assert Walk(plan).exported.get(norm(effective_config(fourth).model.init_from)) == "runs/real_small_visible"


def test_the_members_reach_the_folders_the_run_58_configs_read(plan):
    walk = Walk(plan)
    for member, run_dir in (("11", "runs/real_small_phantoms"), ("46", "runs/real_small_phantoms_long"),
                            ("50", "runs/real_small_phantoms_long_seed8")):
        assert walk.exported.get(f"runs/member{member}/model.safetensors") == run_dir, member


def test_data_sets_use_the_recorded_seeds(plan):
    rebuilds = [cmd for cmd in plan if cmd[0] == REBUILD]
    assert len(rebuilds) == 1 and rebuilds[0][1] == "--training-only"  # no selection set: nothing here reads one
    assert plan.index(rebuilds[0]) == 0  # first: the other sets merge its phantoms, synth_e and synth_f
    synth = {norm(option(cmd, "--out")): cmd for cmd in plan if cmd[:2] == ["lesionviewer-train", "synthesize"]
             and "--host" in cmd}
    assert set(synth) == set(SYNTHETIC_SETS)
    for out, (seed, first) in SYNTHETIC_SETS.items():
        cmd = synth[out]
        assert (option(cmd, "--seed"), option(cmd, "--first-patient")) == (seed, first), out
        assert option(cmd, "--mediastinal-fat-share") == "0", out  # every set here predates Run 37
        assert len(options(cmd, "--host")) == 5, out
    assert not any(cmd[0] == "lesionviewer-phantom" for cmd in plan)  # the phantoms come from the rebuild only


def test_the_ensemble_is_the_three_run_63_members(plan):
    walk = Walk(plan)
    ensemble = [cmd for cmd in plan if cmd[:2] == ["lesionviewer-train", "ensemble"]]
    assert len(ensemble) == 1
    members = [walk.exported.get(norm(model)) for model in options(ensemble[0], "--model")]
    assert members == ["runs/real_small_key_11", "runs/real_small_key_46", "runs/real_small_key_50"]
    configs = [Path(option(walk.trained[run], "--config")).name for run in members]
    assert configs == ["real_small_key.toml", "real_small_key_46.toml", "real_small_key_50.toml"]
    for cmd in plan:  # each member file flips, as the shipped members' cards do
        if cmd[:2] == ["lesionviewer-train", "export"] and norm(option(cmd, "--run-dir")) in members:
            assert "--test-time-flip" in cmd, shlex.join(cmd)


@pytest.mark.parametrize("out", [None, "elsewhere/my_model.safetensors"])
def test_the_last_command_writes_out_and_nothing_goes_under_resources(tmp_path, out):
    root = scratch_root(tmp_path / "root")
    done = run_script(root, "--dry-run", *(["--out", out] if out else []))
    assert done.returncode == 0, done.stderr
    cmds = commands(done.stdout)
    expected = DEFAULT_OUT if out is None else str((root / out).resolve())
    last = cmds[-1]
    assert last[:2] == ["lesionviewer-train", "ensemble"]
    assert option(last, "--out") == expected
    resources = os.path.realpath(root / "resources")
    for cmd in cmds:
        for path in written_paths(cmd):
            real = os.path.realpath(root / path)
            assert not (real + "/").startswith(resources + "/"), shlex.join(cmd)


@pytest.mark.parametrize("out", ["resources/models/ct_mp3d_small.safetensors", "resources/models/other.safetensors"])
def test_an_out_under_resources_models_is_refused(tmp_path, out):
    done = run_script(scratch_root(tmp_path / "root"), "--dry-run", "--out", out)
    assert done.returncode != 0
    assert commands(done.stdout) == []


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_the_device_reaches_every_train_command(tmp_path, device):
    done = run_script(scratch_root(tmp_path / "root"), "--dry-run", "--device", device)
    assert done.returncode == 0, done.stderr
    trains = [cmd for cmd in commands(done.stdout) if is_train(cmd)]
    assert len(trains) == len(LINEAGE)
    for cmd in trains:
        assert f"train.device={device}" in options(cmd, "--set"), shlex.join(cmd)
        assert effective_config(cmd).train.device == device


def test_an_unknown_device_is_refused(tmp_path):
    done = run_script(scratch_root(tmp_path / "root"), "--dry-run", "--device", "tpu")
    assert done.returncode != 0
    assert commands(done.stdout) == []


def test_finished_steps_are_skipped_and_an_interrupted_run_resumes(tmp_path):
    root = scratch_root(tmp_path / "root")
    (root / "data" / "real_mix5").mkdir(parents=True)
    (root / "data" / "real_mix5" / "DL_info.csv").write_text("File_name\n")
    (root / "data" / "synth_a").mkdir(parents=True)  # killed while drawing: no DL_info.csv yet
    (root / "runs" / "demo_small_phantom").mkdir(parents=True)
    (root / "runs" / "demo_small_phantom" / "summary.json").write_text(json.dumps({"finished": True}))
    (root / "runs" / "demo_small_phantom" / "model.safetensors").write_bytes(b"")
    (root / "runs" / "real_small_mixed" / "checkpoints").mkdir(parents=True)
    (root / "runs" / "real_small_mixed" / "checkpoints" / "last.pt").write_bytes(b"")
    done = run_script(root, "--dry-run", "--device", "cuda")
    assert done.returncode == 0, done.stderr
    cmds = commands(done.stdout)
    assert not any(cmd[0] == REBUILD for cmd in cmds)
    assert not any(is_train(cmd) and "--run-dir" in cmd and option(cmd, "--run-dir") == "runs/demo_small_phantom"
                   for cmd in cmds)
    assert not any(cmd[:2] == ["lesionviewer-train", "export"] and option(cmd, "--run-dir") == "runs/demo_small_phantom"
                   for cmd in cmds)
    assert ["lesionviewer-train", "train", "--resume", "runs/real_small_mixed", "--set", "train.device=cuda"] in cmds
    assert not any(is_train(cmd) and "--run-dir" in cmd and option(cmd, "--run-dir") == "runs/real_small_mixed"
                   for cmd in cmds)
    rm = cmds.index(["rm", "-rf", "--", "data/synth_a"])
    redraw = next(i for i, cmd in enumerate(cmds) if "--out" in cmd and option(cmd, "--out") == "data/synth_a")
    assert rm < redraw
    skipped = [line for line in done.stdout.splitlines() if line.startswith("# skipped")]
    assert any("runs/demo_small_phantom/summary.json" in line for line in skipped)
    # the rest of the chain is still there, in the same order
    assert [norm(option(cmd, "--run-dir")) for cmd in cmds if is_train(cmd) and "--run-dir" in cmd] == \
        [run for _, run in LINEAGE[2:]]


def test_a_killed_rebuild_is_cleared_and_run_again(tmp_path):
    root = scratch_root(tmp_path / "root")
    (root / "data" / "phantoms_demo").mkdir(parents=True)  # the rebuild got this far: no data/real_mix5 yet
    (root / "data" / "phantoms_demo" / "DL_info.csv").write_text("File_name\n")
    done = run_script(root, "--dry-run")
    assert done.returncode == 0, done.stderr
    cmds = commands(done.stdout)
    rebuild = next(i for i, cmd in enumerate(cmds) if cmd[0] == REBUILD)
    assert cmds[:rebuild] == [["rm", "-rf", "--", "data/phantoms_demo"]]
